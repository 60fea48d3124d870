//! The quotas troop watches, keyed on (service code, quota code), with the
//! documented default as the last-resort limit. Usage comes from `counters.rs`.

/// What counts a quota's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    Vpcs,
    InternetGateways,
    ElasticIps,
    SecurityGroups,
    /// Per security group: the largest of its inbound/outbound × IPv4/IPv6
    /// rule counts (`troop_core::limits::sg_rules_usage`).
    RulesPerSecurityGroup,
    /// Per VPC.
    SubnetsPerVpc,
    /// Per VPC.
    RouteTablesPerVpc,
    /// Per route table: non-propagated routes, IPv4 and IPv6 apart
    /// (`troop_core::limits::routes_usage`).
    RoutesPerTable,
    /// Per VPC.
    NetworkAclsPerVpc,
    /// Per availability zone: AWS enforces "Network interfaces per Region"
    /// in each zone.
    NetworkInterfaces,
    /// Per network interface.
    SecurityGroupsPerInterface,
    /// Per availability zone (pending, available and deleting gateways).
    NatGatewaysPerAz,
    /// IAM GetAccountSummary key (usage) and its quota key (the stated limit).
    IamSummary(&'static str, &'static str),
    Buckets,
    /// Running On-Demand vCPUs of one instance family class (a quota code
    /// of `troop_core::limits::on_demand_class`).
    OnDemandVcpus,
    /// Provisioned EBS storage of one volume type, in TiB.
    EbsStorage(&'static str),
    Snapshots,
    LoadBalancers(LbType),
    TargetGroups,
    /// Per load balancer.
    ListenersPerLb(LbType),
    /// Per load balancer: non-default certificates over all its listeners.
    CertificatesPerLb(LbType),
    AutoScalingGroups,
    LaunchConfigurations,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LbType {
    Application,
    Network,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Quota {
    pub service: &'static str,
    pub code: &'static str,
    pub name: &'static str,
    /// Documented AWS default, used only when nothing better is known.
    pub builtin: Option<f64>,
    pub count: Count,
    /// Global quotas (IAM, S3) are counted once per account.
    pub global: bool,
    /// The EC2 DescribeAccountAttributes attribute stating this limit.
    pub ec2_attribute: Option<&'static str>,
}

/// The fields most quotas share; entries override what differs.
const Q: Quota =
    Quota { service: "", code: "", name: "", builtin: None, count: Count::Vpcs, global: false, ec2_attribute: None };

pub(crate) const QUOTAS: &[Quota] = &[
    Quota { service: "vpc", code: "L-F678F1CE", name: "VPCs per Region", builtin: Some(5.0), count: Count::Vpcs, ..Q },
    Quota {
        service: "vpc",
        code: "L-A4707A72",
        name: "Internet gateways per Region",
        builtin: Some(5.0),
        count: Count::InternetGateways,
        ..Q
    },
    Quota {
        service: "ec2",
        code: "L-0263D0A3",
        name: "EC2-VPC Elastic IPs",
        builtin: Some(5.0),
        count: Count::ElasticIps,
        ec2_attribute: Some("vpc-max-elastic-ips"),
        ..Q
    },
    Quota {
        service: "vpc",
        code: "L-E79EC296",
        name: "VPC security groups per Region",
        builtin: Some(2500.0),
        count: Count::SecurityGroups,
        ..Q
    },
    Quota {
        service: "vpc",
        code: "L-0EA8095F",
        name: "Inbound or outbound rules per security group",
        builtin: Some(60.0),
        count: Count::RulesPerSecurityGroup,
        ..Q
    },
    Quota {
        service: "vpc",
        code: "L-407747CB",
        name: "Subnets per VPC",
        builtin: Some(200.0),
        count: Count::SubnetsPerVpc,
        ..Q
    },
    Quota {
        service: "vpc",
        code: "L-589F43AA",
        name: "Route tables per VPC",
        builtin: Some(200.0),
        count: Count::RouteTablesPerVpc,
        ..Q
    },
    Quota {
        service: "vpc",
        code: "L-93826ACB",
        name: "Routes per route table",
        builtin: Some(500.0),
        count: Count::RoutesPerTable,
        ..Q
    },
    Quota {
        service: "vpc",
        code: "L-B4A6D682",
        name: "Network ACLs per VPC",
        builtin: Some(200.0),
        count: Count::NetworkAclsPerVpc,
        ..Q
    },
    Quota {
        service: "vpc",
        code: "L-DF5E4CA3",
        name: "Network interfaces per Region",
        builtin: Some(5000.0),
        count: Count::NetworkInterfaces,
        ..Q
    },
    Quota {
        service: "vpc",
        code: "L-2AFB9258",
        name: "Security groups per network interface",
        builtin: Some(5.0),
        count: Count::SecurityGroupsPerInterface,
        ec2_attribute: Some("vpc-max-security-groups-per-interface"),
        ..Q
    },
    Quota {
        service: "vpc",
        code: "L-FE5A380F",
        name: "NAT gateways per Availability Zone",
        builtin: Some(5.0),
        count: Count::NatGatewaysPerAz,
        ..Q
    },
    Quota {
        service: "iam",
        code: "L-FE177D64",
        name: "Roles per account",
        builtin: Some(1000.0),
        count: Count::IamSummary("Roles", "RolesQuota"),
        global: true,
        ..Q
    },
    Quota {
        service: "iam",
        code: "L-F4A5425F",
        name: "Users per account",
        builtin: Some(5000.0),
        count: Count::IamSummary("Users", "UsersQuota"),
        global: true,
        ..Q
    },
    Quota {
        service: "iam",
        code: "L-F55AF5E4",
        name: "Groups per account",
        builtin: Some(300.0),
        count: Count::IamSummary("Groups", "GroupsQuota"),
        global: true,
        ..Q
    },
    Quota {
        service: "iam",
        code: "L-E95E4862",
        name: "Customer managed policies per account",
        builtin: Some(1500.0),
        count: Count::IamSummary("Policies", "PoliciesQuota"),
        global: true,
        ..Q
    },
    Quota {
        service: "iam",
        code: "L-6E65F664",
        name: "Instance profiles per account",
        builtin: Some(1000.0),
        count: Count::IamSummary("InstanceProfiles", "InstanceProfilesQuota"),
        global: true,
        ..Q
    },
    Quota {
        service: "iam",
        code: "L-BF35879D",
        name: "Server certificates per account",
        builtin: Some(20.0),
        count: Count::IamSummary("ServerCertificates", "ServerCertificatesQuota"),
        global: true,
        ..Q
    },
    Quota {
        service: "s3",
        code: "L-DC2B2D3D",
        name: "General purpose buckets",
        builtin: Some(100.0),
        count: Count::Buckets,
        global: true,
        ..Q
    },
    Quota {
        service: "ec2",
        code: "L-1216C47A",
        name: "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
        builtin: Some(5.0),
        count: Count::OnDemandVcpus,
        ..Q
    },
    Quota {
        service: "ec2",
        code: "L-DB2E81BA",
        name: "Running On-Demand G and VT instances",
        builtin: None,
        count: Count::OnDemandVcpus,
        ..Q
    },
    Quota {
        service: "ec2",
        code: "L-417A185B",
        name: "Running On-Demand P instances",
        builtin: None,
        count: Count::OnDemandVcpus,
        ..Q
    },
    Quota {
        service: "ec2",
        code: "L-74FC7D96",
        name: "Running On-Demand F instances",
        builtin: None,
        count: Count::OnDemandVcpus,
        ..Q
    },
    Quota {
        service: "ec2",
        code: "L-7295265B",
        name: "Running On-Demand X instances",
        builtin: None,
        count: Count::OnDemandVcpus,
        ..Q
    },
    Quota {
        service: "ec2",
        code: "L-1945791B",
        name: "Running On-Demand Inf instances",
        builtin: None,
        count: Count::OnDemandVcpus,
        ..Q
    },
    Quota {
        service: "ec2",
        code: "L-6E869C2A",
        name: "Running On-Demand DL instances",
        builtin: None,
        count: Count::OnDemandVcpus,
        ..Q
    },
    Quota {
        service: "ec2",
        code: "L-2C3B7624",
        name: "Running On-Demand Trn instances",
        builtin: None,
        count: Count::OnDemandVcpus,
        ..Q
    },
    Quota {
        service: "ec2",
        code: "L-F7808C92",
        name: "Running On-Demand HPC instances",
        builtin: None,
        count: Count::OnDemandVcpus,
        ..Q
    },
    Quota {
        service: "ec2",
        code: "L-43DA4232",
        name: "Running On-Demand High Memory instances",
        builtin: None,
        count: Count::OnDemandVcpus,
        ..Q
    },
    Quota {
        service: "ebs",
        code: "L-D18FCD1D",
        name: "Storage for General Purpose SSD (gp2) volumes, in TiB",
        builtin: Some(50.0),
        count: Count::EbsStorage("gp2"),
        ..Q
    },
    Quota {
        service: "ebs",
        code: "L-7A658B76",
        name: "Storage for General Purpose SSD (gp3) volumes, in TiB",
        builtin: Some(50.0),
        count: Count::EbsStorage("gp3"),
        ..Q
    },
    Quota {
        service: "ebs",
        code: "L-FD252861",
        name: "Storage for Provisioned IOPS SSD (io1) volumes, in TiB",
        builtin: Some(50.0),
        count: Count::EbsStorage("io1"),
        ..Q
    },
    Quota {
        service: "ebs",
        code: "L-09BD8365",
        name: "Storage for Provisioned IOPS SSD (io2) volumes, in TiB",
        builtin: Some(20.0),
        count: Count::EbsStorage("io2"),
        ..Q
    },
    Quota {
        service: "ebs",
        code: "L-82ACEF56",
        name: "Storage for Throughput Optimized HDD (st1) volumes, in TiB",
        builtin: Some(50.0),
        count: Count::EbsStorage("st1"),
        ..Q
    },
    Quota {
        service: "ebs",
        code: "L-17AF77E8",
        name: "Storage for Cold HDD (sc1) volumes, in TiB",
        builtin: Some(50.0),
        count: Count::EbsStorage("sc1"),
        ..Q
    },
    Quota {
        service: "ebs",
        code: "L-9CF3C2EB",
        name: "Storage for Magnetic (standard) volumes, in TiB",
        builtin: Some(50.0),
        count: Count::EbsStorage("standard"),
        ..Q
    },
    Quota {
        service: "ebs",
        code: "L-309BACF6",
        name: "Snapshots per Region",
        builtin: Some(100000.0),
        count: Count::Snapshots,
        ..Q
    },
    Quota {
        service: "elasticloadbalancing",
        code: "L-53DA6B97",
        name: "Application Load Balancers per Region",
        builtin: Some(50.0),
        count: Count::LoadBalancers(LbType::Application),
        ..Q
    },
    Quota {
        service: "elasticloadbalancing",
        code: "L-69A177A2",
        name: "Network Load Balancers per Region",
        builtin: Some(50.0),
        count: Count::LoadBalancers(LbType::Network),
        ..Q
    },
    Quota {
        service: "elasticloadbalancing",
        code: "L-B22855CB",
        name: "Target Groups per Region",
        builtin: Some(3000.0),
        count: Count::TargetGroups,
        ..Q
    },
    Quota {
        service: "elasticloadbalancing",
        code: "L-B6DF7632",
        name: "Listeners per Application Load Balancer",
        builtin: Some(50.0),
        count: Count::ListenersPerLb(LbType::Application),
        ..Q
    },
    Quota {
        service: "elasticloadbalancing",
        code: "L-57A373D6",
        name: "Listeners per Network Load Balancer",
        builtin: Some(50.0),
        count: Count::ListenersPerLb(LbType::Network),
        ..Q
    },
    Quota {
        service: "elasticloadbalancing",
        code: "L-9365A611",
        name: "Certificates per Application Load Balancer",
        builtin: Some(25.0),
        count: Count::CertificatesPerLb(LbType::Application),
        ..Q
    },
    Quota {
        service: "elasticloadbalancing",
        code: "L-52964454",
        name: "Certificates per Network Load Balancer",
        builtin: Some(25.0),
        count: Count::CertificatesPerLb(LbType::Network),
        ..Q
    },
    Quota {
        service: "autoscaling",
        code: "L-CDE20ADC",
        name: "Auto Scaling groups per region",
        builtin: Some(500.0),
        count: Count::AutoScalingGroups,
        ..Q
    },
    Quota {
        service: "autoscaling",
        code: "L-6B80B8FA",
        name: "Launch configurations per region",
        builtin: Some(200.0),
        count: Count::LaunchConfigurations,
        ..Q
    },
];
