"""AWS API calls of one full security scan, versus the pagination minimum:
the pages an independent client (boto3) needs to list the same things, plus
the calls that have no bulk form, counted per item.

Two tables (docs/benchmarks.md):
1. N IAM roles and N IAM users (each user with an access key): roles cost
   only GetAccountAuthorizationDetails pages, users' keys and MFA only the
   credential report, so the count stays flat.
2. K items of every resource technology (KMS keys, SQS queues, SNS topics,
   Lambda functions, ECR repositories, Secrets Manager secrets, S3 buckets,
   network ACLs, trails, load balancers with a listener, EBS snapshots, AMIs,
   RDS snapshots): list pages plus the per-item reads no bulk call replaces.

usage: iam_calls.py ENDPOINT TROOP_BINARY N [N ...]
"""
import json
import os
import subprocess
import sys
import tempfile

import boto3

endpoint, troop, sizes = sys.argv[1], sys.argv[2], [int(n) for n in sys.argv[3:]]
regions = ["us-east-1", "eu-west-1"]
ACCOUNT = "123456789012"
ITEMS = 20  # resources of each technology in table 2


def client(service, region="us-east-1"):
    return boto3.client(service, endpoint_url=endpoint, region_name=region)


iam = client("iam")
trust = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def pages(c, op, **kw):
    return sum(1 for _ in c.get_paginator(op).paginate(**kw))


def count(c, op, key, **kw):
    return sum(len(p[key]) for p in c.get_paginator(op).paginate(**kw))


def minimum():
    """(total, {what: calls}) a careful client needs for one full scan."""
    m = {"sts:GetCallerIdentity, ec2:DescribeRegions": 2}
    m["iam:GetAccountAuthorizationDetails"] = pages(
        iam, "get_account_authorization_details", Filter=["Role", "User", "Group", "LocalManagedPolicy"])
    m["iam:GetCredentialReport (keys and MFA of every user)"] = 1
    m["account: S3 Control block, GetAccountSummary, GetAccountPasswordPolicy"] = 3
    s3 = client("s3")
    buckets = len(s3.list_buckets()["Buckets"])
    m["s3: ListBuckets + 4 per bucket"] = 1 + 4 * buckets
    for r in regions:
        m[f"{r}: ec2 DescribeSecurityGroups, GetEbsEncryptionByDefault"] = \
            pages(client("ec2", r), "describe_security_groups", PaginationConfig={"PageSize": 1000}) + 1
        kms = client("kms", r)
        keys = count(kms, "list_keys", "Keys")
        m[f"{r}: kms ListKeys, ListAliases + 3 per key"] = pages(kms, "list_keys") + pages(kms, "list_aliases") + 3 * keys
        sqs = client("sqs", r)
        queues = len(sqs.list_queues(MaxResults=1000).get("QueueUrls", []))
        m[f"{r}: sqs ListQueues + 1 per queue"] = 1 + queues
        sns = client("sns", r)
        m[f"{r}: sns ListTopics + 1 per topic"] = pages(sns, "list_topics") + count(sns, "list_topics", "Topics")
        lam = client("lambda", r)
        m[f"{r}: lambda ListFunctions + 2 per function"] = \
            pages(lam, "list_functions", PaginationConfig={"PageSize": 50}) + 2 * count(lam, "list_functions", "Functions")
        ecr = client("ecr", r)
        m[f"{r}: ecr DescribeRepositories + 1 per repository"] = \
            pages(ecr, "describe_repositories", PaginationConfig={"PageSize": 1000}) + \
            count(ecr, "describe_repositories", "repositories")
        sm = client("secretsmanager", r)
        m[f"{r}: secretsmanager ListSecrets + 1 per secret"] = \
            pages(sm, "list_secrets", PaginationConfig={"PageSize": 100}) + count(sm, "list_secrets", "SecretList")
        ec2 = client("ec2", r)
        m[f"{r}: ec2 DescribeNetworkAcls"] = pages(ec2, "describe_network_acls", PaginationConfig={"PageSize": 1000})
        ct = client("cloudtrail", r)
        trails = [t for t in ct.describe_trails(includeShadowTrails=False)["trailList"] if t.get("HomeRegion", r) == r]
        m[f"{r}: cloudtrail DescribeTrails + 1 per trail"] = 1 + len(trails)
        elb = client("elbv2", r)
        lbs = count(elb, "describe_load_balancers", "LoadBalancers")
        policies = {l.get("SslPolicy") for p in elb.get_paginator("describe_load_balancers").paginate()
                    for lb in p["LoadBalancers"]
                    for l in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
                    if l["Protocol"] in ("HTTPS", "TLS")}
        m[f"{r}: elbv2 DescribeLoadBalancers + 1 per load balancer (+ DescribeSSLPolicies)"] = \
            pages(elb, "describe_load_balancers", PaginationConfig={"PageSize": 400}) + lbs + (1 if policies else 0)
        # moto returns other owners' snapshots for OwnerIds=self: only our own cost a call
        own_snaps = sum(1 for p in ec2.get_paginator("describe_snapshots").paginate(
            OwnerIds=["self"], PaginationConfig={"PageSize": 1000}) for x in p["Snapshots"] if x["OwnerId"] == ACCOUNT)
        m[f"{r}: ec2 DescribeSnapshots + 1 per own snapshot"] = \
            pages(ec2, "describe_snapshots", OwnerIds=["self"], PaginationConfig={"PageSize": 1000}) + own_snaps
        m[f"{r}: ec2 DescribeImages + 1 per image"] = \
            pages(ec2, "describe_images", Owners=["self"], PaginationConfig={"PageSize": 1000}) + \
            count(ec2, "describe_images", "Images", Owners=["self"])
        rds = client("rds", r)
        m[f"{r}: rds DescribeDBSnapshots, DescribeDBClusterSnapshots + 1 per snapshot"] = \
            pages(rds, "describe_db_snapshots", SnapshotType="manual", PaginationConfig={"PageSize": 100}) + \
            pages(rds, "describe_db_cluster_snapshots", SnapshotType="manual", PaginationConfig={"PageSize": 100}) + \
            count(rds, "describe_db_snapshots", "DBSnapshots", SnapshotType="manual") + \
            count(rds, "describe_db_cluster_snapshots", "DBClusterSnapshots", SnapshotType="manual")
    return sum(m.values()), m


def scan(work):
    out = subprocess.run([troop, "scan", "--monkey", "security", "--format", "json"], cwd=work,
                         capture_output=True, text=True, check=True)
    s = json.loads(out.stdout)[0]
    return s["aws_api_calls"], s["aws_api_calls_by_operation"]


def seed_resources(k):
    role = iam.create_role(RoleName="bench-lambda", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    s3 = client("s3")
    for i in range(k):
        kms = client("kms")
        kms.create_key(Description=f"bench {i}")
        client("sqs").create_queue(QueueName=f"bench-{i}")
        client("sns").create_topic(Name=f"bench-{i}")
        client("lambda").create_function(
            FunctionName=f"bench-{i}", Runtime="python3.12", Role=role, Handler="app.handler",
            Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18})
        client("ecr").create_repository(repositoryName=f"bench-{i}")
        client("secretsmanager").create_secret(Name=f"bench-{i}", SecretString="x")
        s3.create_bucket(Bucket=f"bench-{i}")
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=z)["Subnet"]["SubnetId"]
               for c, z in [("10.77.1.0/24", "us-east-1a"), ("10.77.2.0/24", "us-east-1b")]]
    elb = client("elbv2")
    tg = elb.create_target_group(Name="bench", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
    s3.create_bucket(Bucket="bench-trails")
    rds = client("rds")
    rds.create_db_instance(DBInstanceIdentifier="bench", DBInstanceClass="db.t3.micro", Engine="postgres",
                           MasterUsername="admin", MasterUserPassword="not-a-secret-1", AllocatedStorage=20)
    for i in range(k):
        ec2.create_network_acl(VpcId=vpc)
        client("cloudtrail").create_trail(Name=f"bench-{i}", S3BucketName="bench-trails")
        lb = elb.create_load_balancer(Name=f"bench-{i}", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
        elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
        ec2.create_snapshot(VolumeId=volume)
        ec2.register_image(Name=f"bench-{i}", RootDeviceName="/dev/xvda")
        rds.create_db_snapshot(DBInstanceIdentifier="bench", DBSnapshotIdentifier=f"bench-{i}")


def table(rows, head):
    print(head)
    print("|---:|---:|---:|---:|---|")
    for n, calls, low, ops in rows:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(ops.items()))
        print(f"| {n} | {calls} | {low} | {calls / low:.2f} | {detail} |")


with tempfile.TemporaryDirectory() as work:
    with open(os.path.join(work, "troop.toml"), "w") as f:
        f.write(f'[aws]\nregions = {json.dumps(regions)}\nendpoint_url = "{endpoint}"\n'
                '[monkeys.certs]\nenabled = false\n[monkeys.limits]\nenabled = false\n'
                '[[alerts.sinks]]\nname = "log"\ntype = "jsonl"\npath = "events.jsonl"\n')
    scan(work)  # the credential report is generated once; every scan after reads it
    created = 0
    rows = []
    for n in sizes:
        while created < n:
            iam.create_role(RoleName=f"role-{created:05d}", AssumeRolePolicyDocument=trust, Path="/bench/")
            iam.create_user(UserName=f"user-{created:05d}", Path="/bench/")
            iam.create_access_key(UserName=f"user-{created:05d}")
            created += 1
        calls, ops = scan(work)
        rows.append((n, calls, minimum()[0], ops))
    table(rows, "| IAM roles and users | troop calls | pagination minimum | ratio | troop calls by operation |")
    print()
    seed_resources(ITEMS)
    calls, ops = scan(work)
    low, parts = minimum()
    table([(ITEMS, calls, low, ops)],
          "| items of each resource technology | troop calls | minimum | ratio | troop calls by operation |")
    print()
    print("minimum, by part: " + "; ".join(f"{k} {v}" for k, v in parts.items()))
