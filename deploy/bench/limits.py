"""Seed the emulator, then time troop's limits pass and awslimitchecker over
the same regions and compare every usage number both report.

argv: endpoint troop-binary alc-python workdir runs
"""

import json
import subprocess
import sys
import time

import boto3

ENDPOINT, TROOP, ALC_PY, WORK, RUNS = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
# The regions an AWS account has enabled by default.
REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
    "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
]
# awslimitchecker limit name -> troop service/quota code
ALC_TO_TROOP = {
    ("VPC", "VPCs"): "vpc/L-F678F1CE",
    ("VPC", "Subnets per VPC"): "vpc/L-407747CB",
    ("VPC", "Network ACLs per VPC"): "vpc/L-B4A6D682",
    ("VPC", "Route tables per VPC"): "vpc/L-589F43AA",
    ("VPC", "Entries per route table"): "vpc/L-93826ACB",
    ("VPC", "Internet gateways"): "vpc/L-A4707A72",
    ("VPC", "NAT Gateways per AZ"): "vpc/L-FE5A380F",
    ("VPC", "Network interfaces per Region"): "vpc/L-DF5E4CA3",
    ("IAM", "Users"): "iam/L-F4A5425F",
    ("IAM", "Roles"): "iam/L-FE177D64",
    ("IAM", "Groups"): "iam/L-F55AF5E4",
    ("IAM", "Policies"): "iam/L-E95E4862",
    ("IAM", "Instance profiles"): "iam/L-6E65F664",
    ("IAM", "Server certificates"): "iam/L-BF35879D",
    ("S3", "Buckets"): "s3/L-DC2B2D3D",
}


def client(svc, region="us-east-1"):
    return boto3.client(svc, endpoint_url=ENDPOINT, region_name=region)


def server_cert():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import datetime

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=90)).sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()).decode(),
    )


def seed():
    for i, region in enumerate(REGIONS):
        ec2 = client("ec2", region)
        azs = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
        for v in range(2 + i % 3):
            vpc = ec2.create_vpc(CidrBlock=f"10.{v}.0.0/16")["Vpc"]["VpcId"]
            subnets = [
                ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{v}.{s}.0/24", AvailabilityZone=azs[s % len(azs)])["Subnet"]["SubnetId"]
                for s in range(3)
            ]
            igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
            ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
            rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
            ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
            ec2.create_network_acl(VpcId=vpc)
            for g in range(3):
                ec2.create_security_group(GroupName=f"app-{v}-{g}", Description="app", VpcId=vpc)
            eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
            ec2.create_nat_gateway(SubnetId=subnets[0], AllocationId=eip)
            ec2.create_network_interface(SubnetId=subnets[1])
    iam = client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    for n in range(40):
        iam.create_user(UserName=f"user-{n}")
    for n in range(25):
        iam.create_role(RoleName=f"role-{n}", AssumeRolePolicyDocument=trust)
    for n in range(12):
        iam.create_group(GroupName=f"group-{n}")
    for n in range(18):
        iam.create_policy(PolicyName=f"policy-{n}", PolicyDocument=doc)
    for n in range(7):
        iam.create_instance_profile(InstanceProfileName=f"profile-{n}")
    body, key = server_cert()
    for n in range(3):
        iam.upload_server_certificate(ServerCertificateName=f"cert-{n}", CertificateBody=body, PrivateKey=key)
    s3 = client("s3")
    for n in range(30):
        s3.create_bucket(Bucket=f"bench-bucket-{n}")


ALC_SCRIPT = r"""
import json, sys, time
import botocore.client
from awslimitchecker.checker import AwsLimitChecker

# moto answers DescribeInternetGateways with an owner-id filter with HTTP 500.
# There is one account here, so dropping that filter changes no number.
_call = botocore.client.BaseClient._make_api_call
def _make_api_call(self, op, params):
    if op == "DescribeInternetGateways":
        params = {k: v for k, v in params.items() if k != "Filters"}
    return _call(self, op, params)
botocore.client.BaseClient._make_api_call = _make_api_call
regions = sys.argv[1].split(",")
out = []
t0 = time.monotonic()
for i, region in enumerate(regions):
    # VPC in every region; IAM and S3 are global: read once.
    services = ["VPC"] + (["IAM", "S3"] if i == 0 else [])
    c = AwsLimitChecker(region=region, check_version=False, skip_quotas=True)
    c.find_usage(service=services, use_ta=False)
    for svc, limits in c.get_limits(service=services, use_ta=False).items():
        for name, lim in limits.items():
            for u in lim.get_current_usage():
                out.append([svc, name, region, u.resource_id, u.get_value()])
print(json.dumps({"seconds": time.monotonic() - t0, "usage": out}))
"""


def run_alc():
    env = {"AWS_ENDPOINT_URL": ENDPOINT, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"}
    p = subprocess.run([ALC_PY, "-c", ALC_SCRIPT, ",".join(REGIONS)], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"awslimitchecker failed:\n{p.stderr[:4000]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_troop(store):
    cfg = f"{WORK}/troop.toml"
    with open(cfg, "w") as f:
        f.write(
            f'[agent]\nstore = "sqlite://{store}"\n[aws]\nregions = {json.dumps(REGIONS)}\n'
            f'endpoint_url = "{ENDPOINT}"\n[monkeys.security]\nenabled = false\n[monkeys.certs]\nenabled = false\n'
            # awslimitchecker cannot run against the emulator's Service Quotas (HTTP 500): both skip it
            '[monkeys.limits]\nservice_quotas = false\nservices = ["vpc", "iam", "s3"]\n'
        )
    t0 = time.monotonic()
    subprocess.run([TROOP, "--config", cfg, "scan", "--monkey", "limits"], check=True, capture_output=True)
    seconds = time.monotonic() - t0
    rows = json.loads(subprocess.run([TROOP, "--config", cfg, "limits", "--format", "json"], check=True,
                                     capture_output=True, text=True).stdout)
    return seconds, rows


def main():
    t = time.monotonic()
    seed()
    print(f"seeded {len(REGIONS)} regions in {time.monotonic() - t:.1f}s", file=sys.stderr)
    # The emulator builds each region's backend on first use: one untimed
    # run of each tool first, then alternate which goes first.
    run_troop(f"{WORK}/warm.db")
    run_alc()
    troop_times, alc_times = [], []
    for r in range(RUNS):
        if r % 2:
            alc = run_alc()
        secs, rows = run_troop(f"{WORK}/run{r}.db")
        troop_times.append(secs)
        if not r % 2:
            alc = run_alc()
        alc_times.append(alc["seconds"])
    # compare the last run's numbers
    troop = {}
    for row in rows:
        if row["usage"] is not None:
            troop[(f'{row["service"]}/{row["quota_code"]}', row["region"], row["resource"])] = row["usage"]
    compared, mismatches = 0, []
    for svc, name, region, resource, value in alc["usage"]:
        code = ALC_TO_TROOP.get((svc, name))
        if code is None:
            continue
        region_key = "global" if svc in ("IAM", "S3") else region
        # awslimitchecker names no resource for account-wide quotas; troop uses null.
        got = troop.get((code, region_key, resource))
        compared += 1
        if got is None or abs(got - value) > 1e-9:
            mismatches.append((svc, name, region, resource, value, got))
    # per-resource rows awslimitchecker leaves out are zero in troop
    alc_keys = {(ALC_TO_TROOP.get((s, n)), "global" if s in ("IAM", "S3") else r, res)
                for s, n, r, res, _ in alc["usage"]}
    extra = [(k, v) for k, v in troop.items()
             if k[0] in ALC_TO_TROOP.values() and k not in alc_keys and v != 0]
    med = lambda xs: sorted(xs)[len(xs) // 2]
    print(f"| regions | usage numbers compared | equal | troop pass (s, median of {RUNS}) "
          f"| awslimitchecker (s, median of {RUNS}) | ratio |")
    print("|---|---|---|---|---|---|")
    print(f"| {len(REGIONS)} | {compared} | {compared - len(mismatches)} | {med(troop_times):.2f} "
          f"| {med(alc_times):.2f} | {med(troop_times) / med(alc_times):.2f}x |")
    for m in mismatches:
        print("MISMATCH (service, limit, region, resource, awslimitchecker, troop):", m, file=sys.stderr)
    for e in extra:
        print("ONLY IN TROOP (nonzero):", e, file=sys.stderr)
    if mismatches or extra or compared == 0:
        sys.exit(1)


main()
