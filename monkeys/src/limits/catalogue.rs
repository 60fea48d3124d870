//! The quotas troop watches, keyed on (service code, quota code), with the
//! documented default as the last-resort limit. Usage comes from `counters.rs`.

/// What counts a quota's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    Vpcs,
    InternetGateways,
    ElasticIps,
    SecurityGroups,
    /// Per security group: the larger of its inbound and outbound rule counts.
    RulesPerSecurityGroup,
    /// Per VPC.
    SubnetsPerVpc,
    /// Per VPC.
    RouteTablesPerVpc,
    /// Per route table.
    RoutesPerTable,
    /// Per VPC.
    NetworkAclsPerVpc,
    NetworkInterfaces,
    /// Per network interface.
    SecurityGroupsPerInterface,
    /// Per availability zone (available and pending gateways).
    NatGatewaysPerAz,
    /// IAM GetAccountSummary key (usage) and its quota key (the stated limit).
    IamSummary(&'static str, &'static str),
    Buckets,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Quota {
    pub service: &'static str,
    pub code: &'static str,
    pub name: &'static str,
    /// Documented AWS default, used only when nothing better is known.
    pub builtin: f64,
    pub count: Count,
    /// Global quotas (IAM, S3) are counted once per account.
    pub global: bool,
}

pub(crate) const QUOTAS: &[Quota] = &[
    Quota {
        service: "vpc",
        code: "L-F678F1CE",
        name: "VPCs per Region",
        builtin: 5.0,
        count: Count::Vpcs,
        global: false,
    },
    Quota {
        service: "vpc",
        code: "L-A4707A72",
        name: "Internet gateways per Region",
        builtin: 5.0,
        count: Count::InternetGateways,
        global: false,
    },
    Quota {
        service: "ec2",
        code: "L-0263D0A3",
        name: "EC2-VPC Elastic IPs",
        builtin: 5.0,
        count: Count::ElasticIps,
        global: false,
    },
    Quota {
        service: "vpc",
        code: "L-E79EC296",
        name: "VPC security groups per Region",
        builtin: 2500.0,
        count: Count::SecurityGroups,
        global: false,
    },
    Quota {
        service: "vpc",
        code: "L-0EA8095F",
        name: "Inbound or outbound rules per security group",
        builtin: 60.0,
        count: Count::RulesPerSecurityGroup,
        global: false,
    },
    Quota {
        service: "vpc",
        code: "L-407747CB",
        name: "Subnets per VPC",
        builtin: 200.0,
        count: Count::SubnetsPerVpc,
        global: false,
    },
    Quota {
        service: "vpc",
        code: "L-589F43AA",
        name: "Route tables per VPC",
        builtin: 200.0,
        count: Count::RouteTablesPerVpc,
        global: false,
    },
    Quota {
        service: "vpc",
        code: "L-93826ACB",
        name: "Routes per route table",
        builtin: 500.0,
        count: Count::RoutesPerTable,
        global: false,
    },
    Quota {
        service: "vpc",
        code: "L-B4A6D682",
        name: "Network ACLs per VPC",
        builtin: 200.0,
        count: Count::NetworkAclsPerVpc,
        global: false,
    },
    Quota {
        service: "vpc",
        code: "L-DF5E4CA3",
        name: "Network interfaces per Region",
        builtin: 5000.0,
        count: Count::NetworkInterfaces,
        global: false,
    },
    Quota {
        service: "vpc",
        code: "L-2AFB9258",
        name: "Security groups per network interface",
        builtin: 5.0,
        count: Count::SecurityGroupsPerInterface,
        global: false,
    },
    Quota {
        service: "vpc",
        code: "L-FE5A380F",
        name: "NAT gateways per Availability Zone",
        builtin: 5.0,
        count: Count::NatGatewaysPerAz,
        global: false,
    },
    Quota {
        service: "iam",
        code: "L-FE177D64",
        name: "Roles per account",
        builtin: 1000.0,
        count: Count::IamSummary("Roles", "RolesQuota"),
        global: true,
    },
    Quota {
        service: "iam",
        code: "L-F4A5425F",
        name: "Users per account",
        builtin: 5000.0,
        count: Count::IamSummary("Users", "UsersQuota"),
        global: true,
    },
    Quota {
        service: "iam",
        code: "L-F55AF5E4",
        name: "Groups per account",
        builtin: 300.0,
        count: Count::IamSummary("Groups", "GroupsQuota"),
        global: true,
    },
    Quota {
        service: "iam",
        code: "L-E95E4862",
        name: "Customer managed policies per account",
        builtin: 1500.0,
        count: Count::IamSummary("Policies", "PoliciesQuota"),
        global: true,
    },
    Quota {
        service: "iam",
        code: "L-6E65F664",
        name: "Instance profiles per account",
        builtin: 1000.0,
        count: Count::IamSummary("InstanceProfiles", "InstanceProfilesQuota"),
        global: true,
    },
    Quota {
        service: "iam",
        code: "L-BF35879D",
        name: "Server certificates per account",
        builtin: 20.0,
        count: Count::IamSummary("ServerCertificates", "ServerCertificatesQuota"),
        global: true,
    },
    Quota {
        service: "s3",
        code: "L-DC2B2D3D",
        name: "General purpose buckets",
        builtin: 100.0,
        count: Count::Buckets,
        global: true,
    },
];
