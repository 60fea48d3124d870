"""AWS API calls of one full security scan, versus the pagination minimum:
the pages an independent client (boto3) needs to list the same things, plus
the calls that have no bulk form, counted per item.

Two tables (docs/benchmarks.md):
1. N IAM roles and N IAM users (each user with an access key): roles cost
   only GetAccountAuthorizationDetails pages, users' keys and MFA only the
   credential report, so the count stays flat.
2. K items of every resource technology (KMS keys, SQS queues, SNS topics,
   Lambda functions, ECR repositories, Secrets Manager secrets, S3 buckets):
   list pages plus the per-item reads no bulk call replaces.

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
