"""Seed the emulator with a small, realistic estate for the demo.

Three VPCs in us-east-1 (prod, staging, shared services: with the default VPC,
4 of the 5 allowed) and one in eu-west-1; security groups as
teams leave them (a load balancer open on 443, a bastion open on 22 to the
world, app and database tiers that reference each other, a forgotten RDP box);
a few IAM roles, users and policies; S3 buckets, one of them public-read.
"""
import json
import sys

import boto3

endpoint = sys.argv[1]


def client(service, region="us-east-1"):
    return boto3.client(service, endpoint_url=endpoint, region_name=region)


def world(port, cidr="0.0.0.0/0"):
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}


def from_group(port, group):
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": [{"GroupId": group}]}


def vpc(ec2, cidr, name):
    v = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[v], Tags=[{"Key": "Name", "Value": name}])
    return v


def group(ec2, vpc_id, name, description, ingress=(), team="platform"):
    g = ec2.create_security_group(
        GroupName=name,
        Description=description,
        VpcId=vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "team", "Value": team}]}],
    )["GroupId"]
    if ingress:
        ec2.authorize_security_group_ingress(GroupId=g, IpPermissions=list(ingress))
    return g


ec2 = client("ec2")
prod = vpc(ec2, "10.10.0.0/16", "prod")
staging = vpc(ec2, "10.20.0.0/16", "staging")
vpc(ec2, "10.40.0.0/16", "shared-services")  # with the default VPC: 4 of 5, the quota alarm at 80%
alb = group(ec2, prod, "prod-web-alb", "public load balancer", [world(443), world(80)])
app = group(ec2, prod, "prod-app", "application servers", [from_group(8080, alb)])
group(ec2, prod, "prod-db", "postgres", [from_group(5432, app)], team="data")
group(ec2, prod, "prod-bastion", "ssh jump host", [world(22)])
group(ec2, staging, "staging-app", "staging app", [world(8080, "10.0.0.0/8")])

eu = client("ec2", "eu-west-1")
legacy = vpc(eu, "10.30.0.0/16", "legacy")
group(eu, legacy, "legacy-windows", "old reporting box", [world(3389)], team="finance")

iam = client("iam")
trust = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
iam.create_role(RoleName="app-server", AssumeRolePolicyDocument=json.dumps(trust))
iam.create_role(RoleName="ci-deployer", AssumeRolePolicyDocument=json.dumps(trust))
policy = iam.create_policy(
    PolicyName="read-reports",
    PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}]}
    ),
)["Policy"]["Arn"]
iam.attach_role_policy(RoleName="app-server", PolicyArn=policy)
iam.create_group(GroupName="developers")
iam.create_user(UserName="alice")
iam.add_user_to_group(GroupName="developers", UserName="alice")
iam.create_access_key(UserName="alice")

s3 = client("s3")
s3.create_bucket(Bucket="acme-reports")
s3.create_bucket(Bucket="acme-public-assets")
s3.put_bucket_acl(Bucket="acme-public-assets", ACL="public-read")

print(f"seeded: 4 VPCs, 7 security groups, 2 roles, 1 user, 1 group, 1 policy, 2 buckets on {endpoint}")
