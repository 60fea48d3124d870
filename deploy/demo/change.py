"""The kind of Friday-afternoon change a security team wants to hear about:
SSH opened to the world on the app tier, AdministratorAccess attached to a role,
a reports bucket made public-read, and a foreign account trusted by the deploy role."""
import json
import sys

import boto3

endpoint = sys.argv[1]
ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1")
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")

app = [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] == "prod-app"][0]["GroupId"]
ec2.authorize_security_group_ingress(
    GroupId=app, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
)
iam.attach_role_policy(RoleName="app-server", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
trust = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"},
    ],
}
iam.update_assume_role_policy(RoleName="ci-deployer", PolicyDocument=json.dumps(trust))
s3.put_bucket_acl(Bucket="acme-reports", ACL="public-read")
print("changed: prod-app (ssh from anywhere), app-server (AdministratorAccess), ci-deployer (trusts 999999999999), acme-reports (public-read)")
