"""AWS API calls of one full security scan against N IAM roles, versus the
pagination minimum: the pages an independent client (boto3) needs to list the
same things, plus the calls that have no bulk form (one GetCallerIdentity).

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
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
trust = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def pages(client, op, key, **kw):
    return sum(1 for _ in client.get_paginator(op).paginate(**kw))


def minimum():
    n = 1  # sts:GetCallerIdentity
    for r in regions:
        n += pages(boto3.client("ec2", endpoint_url=endpoint, region_name=r), "describe_security_groups", "SecurityGroups",
                   PaginationConfig={"PageSize": 1000})
    n += pages(iam, "get_account_authorization_details", "RoleDetailList",
               Filter=["Role", "User", "Group", "LocalManagedPolicy"])
    users = [u["UserName"] for p in iam.get_paginator("list_users").paginate() for u in p["Users"]]
    n += 2 * len(users)  # ListAccessKeys + ListMFADevices: no bulk form
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    n += 1 + 4 * len(s3.list_buckets()["Buckets"])  # location, ACL, policy, public-access block each
    return n


created = 0
rows = []
with tempfile.TemporaryDirectory() as work:
    with open(os.path.join(work, "troop.toml"), "w") as f:
        f.write(f'[aws]\nregions = {json.dumps(regions)}\nendpoint_url = "{endpoint}"\n'
                '[monkeys.certs]\nenabled = false\n[monkeys.limits]\nenabled = false\n'
                '[[alerts.sinks]]\nname = "log"\ntype = "jsonl"\npath = "events.jsonl"\n')
    for n in sizes:
        while created < n:
            iam.create_role(RoleName=f"role-{created:05d}", AssumeRolePolicyDocument=trust, Path="/bench/")
            created += 1
        out = subprocess.run([troop, "scan", "--format", "json"], cwd=work, capture_output=True, text=True, check=True)
        summary = json.loads(out.stdout)[0]
        calls = summary["aws_api_calls"]
        low = minimum()
        rows.append((n, calls, low, calls / low, summary["aws_api_calls_by_operation"]))

print("| IAM roles | troop calls | pagination minimum | ratio | troop calls by operation |")
print("|---:|---:|---:|---:|---|")
for n, calls, low, ratio, ops in rows:
    detail = ", ".join(f"{k} {v}" for k, v in sorted(ops.items()))
    print(f"| {n} | {calls} | {low} | {ratio:.2f} | {detail} |")
