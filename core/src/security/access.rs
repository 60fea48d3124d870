//! Who a policy lets in: the one reading of IAM policy documents that every
//! audit uses (bucket policies, role trust policies, identity policies, and
//! the resource policies to come).
//!
//! It follows AWS's documents, not intuition:
//! - [Policy evaluation logic](https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
//!   an explicit Deny beats any Allow; `NotAction`/`NotResource` match what
//!   they do not list; `NotPrincipal` with Allow lets in everyone it does not
//!   list.
//! - [Action and Resource elements](https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html):
//!   actions match case-insensitively, with `*` (any run of characters) and
//!   `?` (one character) anywhere, service part included; resources (ARNs)
//!   match case-sensitively with the same wildcards.
//! - [Principal element](https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html):
//!   `"*"` and `{"AWS": "*"}` mean everyone (anonymous included, where the
//!   service allows it); an account id and `arn:aws:iam::ID:root` mean that
//!   account; role/user ARNs, canonical users, services and federated
//!   providers mean themselves.
//! - [The meaning of "public"](https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html#access-control-block-public-access-policy-status):
//!   a grant to everyone stops being public only when a condition pins
//!   identity or network to fixed values (no wildcard, no policy variable) of
//!   the keys in [`NARROWING_KEYS`]; other conditions (`aws:SecureTransport`,
//!   `aws:CurrentTime`, `...IfExists`, negated operators) do not narrow who
//!   gets in.
//!
//! All functions are pure; documents are expected in [`super::policy::normalize`]d
//! form but any spelling AWS accepts is read.

use super::policy;
use serde_json::Value;
use std::collections::BTreeSet;

// ---------------------------------------------------------------- wildcards

/// `value` matches `pattern` (`*` any run, `?` one character), as IAM matches
/// actions (`ignore_case = true`) and resources (`false`).
pub fn glob_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let eq = |a: char, b: char| if ignore_case { a.to_lowercase().eq(b.to_lowercase()) } else { a == b };
    // Iterative matcher with one backtrack point (linear in practice).
    let (mut i, mut j) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while j < v.len() {
        if i < p.len() && (p[i] == '?' || (p[i] != '*' && eq(p[i], v[j]))) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == '*' {
        i += 1;
    }
    i == p.len()
}

/// Every value `sub` matches is matched by `pattern` (a sound test: it may
/// answer false for exotic pairs that do cover, never true for pairs that
/// do not). `s3:*` covers `s3:Get*`; `s3:Get*` does not cover `s3:*`.
/// Time O(len(pattern) × len(sub)), memory O(len(sub)).
pub fn glob_covers(pattern: &str, sub: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = sub.chars().collect();
    let eq = |a: char, b: char| if ignore_case { a.to_lowercase().eq(b.to_lowercase()) } else { a == b };
    let m = s.len();
    // next[j]: p[i+1..] covers s[j..]; cur[j]: p[i..] covers s[j..]
    let mut next: Vec<bool> = (0..=m).map(|j| j == m).collect();
    for i in (0..p.len()).rev() {
        let mut cur = vec![false; m + 1];
        for j in (0..=m).rev() {
            cur[j] = if p[i] == '*' {
                // `*` may end here, or swallow the next symbol of `sub` (a
                // `*` of `sub` only by a `*`, which this is)
                next[j] || (j < m && cur[j + 1])
            } else if j == m {
                false
            } else if p[i] == '?' {
                s[j] != '*' && next[j + 1]
            } else {
                s[j] != '*' && s[j] != '?' && eq(p[i], s[j]) && next[j + 1]
            };
        }
        next = cur;
    }
    next[0]
}

/// Some value matches both patterns. Time O(len(a) × len(b)), memory O(len(b)).
pub fn glob_overlaps(a: &str, b: &str, ignore_case: bool) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let eq = |x: char, y: char| if ignore_case { x.to_lowercase().eq(y.to_lowercase()) } else { x == y };
    let (n, m) = (a.len(), b.len());
    // next[j]: a[i+1..] and b[j..] share a value; cur[j]: a[i..] and b[j..]
    let mut next = vec![false; m + 1];
    for i in (0..=n).rev() {
        let mut cur = vec![false; m + 1];
        for j in (0..=m).rev() {
            cur[j] = if i < n && a[i] == '*' {
                next[j] || (j < m && cur[j + 1])
            } else if j < m && b[j] == '*' {
                cur[j + 1] || (i < n && next[j])
            } else if i == n || j == m {
                i == n && j == m
            } else {
                (a[i] == '?' || b[j] == '?' || eq(a[i], b[j])) && next[j + 1]
            };
        }
        next = cur;
    }
    next[0]
}

// ---------------------------------------------------------------- statements

/// An `Action`/`Resource` element, or its `Not...` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// `Action: [...]`: exactly what the patterns match.
    Only(Vec<String>),
    /// `NotAction: [...]`: everything the patterns do not match.
    AllBut(Vec<String>),
    /// Neither element (trust policies have no `Resource`): everything.
    Any,
}

impl Matcher {
    fn read(st: &Value, key: &str, not_key: &str) -> Matcher {
        if let Some(v) = st.get(key) {
            Matcher::Only(strings(v))
        } else if let Some(v) = st.get(not_key) {
            Matcher::AllBut(strings(v))
        } else {
            Matcher::Any
        }
    }

    /// The element matches `value`.
    pub fn matches(&self, value: &str, ignore_case: bool) -> bool {
        match self {
            Matcher::Only(ps) => ps.iter().any(|p| glob_match(p, value, ignore_case)),
            Matcher::AllBut(ps) => !ps.iter().any(|p| glob_match(p, value, ignore_case)),
            Matcher::Any => true,
        }
    }

    /// The element matches every value `pattern` matches.
    pub fn covers(&self, pattern: &str, ignore_case: bool) -> bool {
        match self {
            Matcher::Only(ps) => ps.iter().any(|p| glob_covers(p, pattern, ignore_case)),
            Matcher::AllBut(ps) => !ps.iter().any(|p| glob_overlaps(p, pattern, ignore_case)),
            Matcher::Any => true,
        }
    }

    /// The element matches some value `pattern` matches.
    pub fn overlaps(&self, pattern: &str, ignore_case: bool) -> bool {
        match self {
            Matcher::Only(ps) => ps.iter().any(|p| glob_overlaps(p, pattern, ignore_case)),
            Matcher::AllBut(ps) => !ps.iter().any(|p| glob_covers(p, pattern, ignore_case)),
            Matcher::Any => true,
        }
    }

    /// The element matches everything `other` matches.
    fn covers_matcher(&self, other: &Matcher, ignore_case: bool) -> bool {
        match other {
            Matcher::Only(ps) => ps.iter().all(|p| self.covers(p, ignore_case)),
            // "all but X" is covered by "*" or by "all but Y" where every Y is among X's.
            Matcher::AllBut(xs) => match self {
                Matcher::Any => true,
                Matcher::Only(_) => self.covers("*", ignore_case),
                Matcher::AllBut(ys) => ys.iter().all(|y| xs.iter().any(|x| glob_covers(x, y, ignore_case))),
            },
            Matcher::Any => self.covers("*", ignore_case),
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        _ => vec![],
    }
}

/// One principal value, as the Principal element documentation defines it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Principal {
    /// `"*"`, `{"AWS": "*"}` (or any wildcard in an AWS principal).
    Anyone,
    /// An account: `123456789012` or `arn:aws:iam::123456789012:root`.
    Account(String),
    /// A role, user, assumed-role session or other IAM ARN, with its account.
    Arn { arn: String, account: String },
    /// `{"CanonicalUser": "..."}`.
    CanonicalUser(String),
    /// `{"Service": "ec2.amazonaws.com"}`.
    Service(String),
    /// `{"Federated": ...}`: a SAML/OIDC provider ARN or a web identity
    /// provider name (`accounts.google.com`, `cognito-identity.amazonaws.com`).
    Federated(String),
    /// Anything else (kept so nothing is silently dropped).
    Other { kind: String, value: String },
}

impl Principal {
    pub fn parse(kind: &str, value: &str) -> Principal {
        match kind {
            "AWS" if value.contains('*') => Principal::Anyone,
            "AWS" => match policy::principal_account(value) {
                Some(acct) if value.len() == 12 || value.ends_with(":root") => Principal::Account(acct),
                Some(acct) => Principal::Arn { arn: value.into(), account: acct },
                None => Principal::Other { kind: kind.into(), value: value.into() },
            },
            "CanonicalUser" => Principal::CanonicalUser(value.into()),
            "Service" => Principal::Service(value.into()),
            "Federated" => Principal::Federated(value.into()),
            _ => Principal::Other { kind: kind.into(), value: value.into() },
        }
    }

    /// The account this principal belongs to, when it names one.
    pub fn account(&self) -> Option<&str> {
        match self {
            Principal::Account(a) | Principal::Arn { account: a, .. } => Some(a),
            _ => None,
        }
    }
}

/// Every principal of a Principal element, read from its one normalised
/// spelling ([`policy::principal`]: `"*"`, bare strings and lists read as
/// the normaliser reads them).
fn principal_list(v: &Value) -> Vec<Principal> {
    match policy::principal(v) {
        Value::Object(m) => {
            m.iter().flat_map(|(k, v)| strings(v).into_iter().map(|p| Principal::parse(k, &p))).collect()
        }
        _ => vec![],
    }
}

/// A statement, read once.
#[derive(Debug, Clone)]
pub struct Statement<'a> {
    pub raw: &'a Value,
    pub allow: bool,
    /// `Principal` (None: absent, as in identity policies).
    pub principals: Option<Vec<Principal>>,
    /// `NotPrincipal`.
    pub not_principals: Option<Vec<Principal>>,
    pub actions: Matcher,
    pub resources: Matcher,
    pub conditions: Vec<Condition>,
}

/// One `operator: {key: values}` test of a Condition block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// As written, e.g. `ForAnyValue:StringLike`, `BoolIfExists`.
    pub operator: String,
    pub key: String,
    pub values: Vec<String>,
}

impl<'a> Statement<'a> {
    pub fn read(raw: &'a Value) -> Statement<'a> {
        let mut conditions = Vec::new();
        if let Some(Value::Object(ops)) = raw.get("Condition") {
            for (op, keys) in ops {
                if let Value::Object(keys) = keys {
                    for (k, v) in keys {
                        let values = match v {
                            Value::Bool(b) => vec![b.to_string()],
                            Value::Number(n) => vec![n.to_string()],
                            other => {
                                let mut s = strings(other);
                                if let Value::Array(items) = other {
                                    s.extend(items.iter().filter(|i| !i.is_string()).map(|i| i.to_string()));
                                }
                                s
                            }
                        };
                        conditions.push(Condition { operator: op.clone(), key: k.clone(), values });
                    }
                }
            }
        }
        Statement {
            raw,
            allow: raw.get("Effect").and_then(Value::as_str) == Some("Allow"),
            principals: raw.get("Principal").map(principal_list),
            not_principals: raw.get("NotPrincipal").map(principal_list),
            actions: Matcher::read(raw, "Action", "NotAction"),
            resources: Matcher::read(raw, "Resource", "NotResource"),
            conditions,
        }
    }

    /// The statement's Action/NotAction matches `action` (case-insensitive).
    pub fn matches_action(&self, action: &str) -> bool {
        self.actions.matches(action, true)
    }

    /// The statement's Resource/NotResource matches every ARN `pattern` matches.
    pub fn covers_resource(&self, pattern: &str) -> bool {
        self.resources.covers(pattern, false)
    }

    /// The statement applies to everyone: `Principal` `*`, or `NotPrincipal`
    /// (everyone but those listed).
    pub fn to_everyone(&self) -> bool {
        self.not_principals.is_some() || self.principals.as_ref().is_some_and(|ps| ps.contains(&Principal::Anyone))
    }
}

/// Every statement of a document.
pub fn statements(doc: &Value) -> Vec<Statement<'_>> {
    policy::statements(doc).into_iter().map(Statement::read).collect()
}

// ---------------------------------------------------------------- identity policies

/// The document allows `action` on every resource `resource` matches (an
/// Allow statement whose Action/NotAction matches it and whose
/// Resource/NotResource covers the pattern, with no unconditional Deny
/// taking it back). Conditions on the Allow are ignored: they narrow when,
/// not what.
pub fn allows<'a>(doc: &'a Value, action: &str, resource: &str) -> Option<Statement<'a>> {
    if denied(&[doc], action, resource) {
        return None;
    }
    statements(doc).into_iter().find(|s| s.allow && s.matches_action(action) && s.covers_resource(resource))
}

/// An unconditional Deny in any of `docs` (one identity's policies: an
/// explicit Deny anywhere wins) takes `action` back on every resource
/// `resource` matches.
pub fn denied(docs: &[&Value], action: &str, resource: &str) -> bool {
    docs.iter()
        .flat_map(|d| statements(d))
        .any(|d| !d.allow && d.conditions.is_empty() && d.matches_action(action) && d.resources.covers(resource, false))
}

/// An unconditional Deny in any of `docs` takes back every action on every
/// resource.
pub fn denies_everything(docs: &[&Value]) -> bool {
    docs.iter().flat_map(|d| statements(d)).any(|d| {
        !d.allow
            && d.conditions.is_empty()
            && d.actions.covers_matcher(&Matcher::Any, true)
            && d.resources.covers_matcher(&Matcher::Any, false)
    })
}

/// The statement allows every action (`*`, `*:*`, or a pattern of only `*`s
/// and one `:`), as AdministratorAccess does.
pub fn allows_every_action(st: &Statement) -> bool {
    match &st.actions {
        Matcher::Only(ps) => ps.iter().any(|p| glob_covers(p, "*:*", true)),
        Matcher::AllBut(ps) => ps.is_empty(),
        Matcher::Any => false,
    }
}

// ---------------------------------------------------------------- resource policies

/// The condition keys that can make a grant to everyone non-public when
/// pinned to fixed values: S3's "meaning of public" list, the organization
/// keys, and `aws:PrincipalAccount`/`aws:PrincipalArn`.
pub const NARROWING_KEYS: &[&str] = &[
    "aws:SourceArn",
    "aws:SourceAccount",
    "aws:SourceOwner",
    "aws:SourceVpc",
    "aws:SourceVpce",
    "aws:SourceIp",
    "aws:SourceOrgID",
    "aws:SourceOrgPaths",
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "kms:CallerAccount",
    "aws:userid",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:DataAccessPointArn",
    "s3:DataAccessPointAccount",
];

/// Who a grant reaches once its principal and conditions are read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// Anyone, anonymous included.
    Public,
    /// Principals of these accounts (from the Principal element, or pinned
    /// by `aws:PrincipalAccount`/`aws:SourceAccount`/an ARN key).
    Accounts(BTreeSet<String>),
    /// Members of these organizations or OU paths.
    Organizations(BTreeSet<String>),
    /// These AWS services (acting for anyone unless a source key pins them).
    Services(BTreeSet<String>),
    /// Users of a federated identity provider.
    Federated(String),
    /// Canonical users (S3).
    CanonicalUsers(BTreeSet<String>),
    /// Everyone, but only through a fixed network path or value (`key`).
    Restricted { key: String },
}

/// One way in: an Allow statement's principals after its conditions and the
/// document's Deny statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub reach: Reach,
    /// `policy::describe` of the statement ("Allow s3:GetObject on ... to *").
    pub statement: String,
    /// The narrowing condition key that limited it, if any.
    pub narrowed_by: Option<String>,
    /// The statement's Action/NotAction.
    pub actions: Matcher,
    /// The statement's position in the document (0-based) and its `Sid`.
    pub index: usize,
    pub sid: Option<String>,
}

fn base_operator(op: &str) -> (&str, bool) {
    let op = op.strip_prefix("ForAnyValue:").unwrap_or(op);
    match op.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (op, false),
    }
}

fn fixed(v: &str) -> bool {
    !v.is_empty() && !v.contains('*') && !v.contains('?') && !v.contains("${")
}

/// A CIDR narrows unless it spans a large part of the address space:
/// shorter than /8 for IPv4 or /16 for IPv6 (AWS's own example of a public
/// policy uses `0.0.0.0/1`).
pub fn cidr_is_narrow(cidr: &str) -> bool {
    let (addr, len) = match cidr.split_once('/') {
        Some((a, l)) => match l.parse::<u8>() {
            Ok(l) => (a, l),
            Err(_) => return false,
        },
        None => (cidr, if cidr.contains(':') { 128 } else { 32 }),
    };
    if addr.contains(':') {
        addr.parse::<std::net::Ipv6Addr>().is_ok() && (16..=128).contains(&len)
    } else {
        addr.parse::<std::net::Ipv4Addr>().is_ok() && (8..=32).contains(&len)
    }
}

fn is_key(c: &Condition, key: &str) -> bool {
    c.key.eq_ignore_ascii_case(key)
}

fn narrowing_key(c: &Condition) -> Option<&'static str> {
    NARROWING_KEYS.iter().copied().find(|k| is_key(c, k))
}

/// Accounts named by ARN values (`arn:aws:iam::ID:...`, `arn:aws:sns:r:ID:t`).
fn arn_accounts(values: &[String]) -> Option<BTreeSet<String>> {
    values.iter().map(|v| policy::principal_account(v)).collect()
}

/// What a positive condition pins (`StringEquals aws:PrincipalOrgID o-1`),
/// or None when it does not narrow who gets in.
fn narrowing(c: &Condition) -> Option<Reach> {
    let (op, if_exists) = base_operator(&c.operator);
    if if_exists || c.operator.starts_with("ForAllValues:") {
        // true when the key is absent: never narrows
        return None;
    }
    let key = narrowing_key(c)?;
    if c.values.is_empty() {
        return None;
    }
    if key == "aws:SourceIp" {
        return (op == "IpAddress" && c.values.iter().all(|v| cidr_is_narrow(v)))
            .then(|| Reach::Restricted { key: key.into() });
    }
    let positive = matches!(op, "StringEquals" | "StringEqualsIgnoreCase" | "StringLike" | "ArnEquals" | "ArnLike");
    if !positive {
        return None;
    }
    if c.values.iter().all(|v| fixed(v)) {
        return Some(reach_of_key(key, &c.values));
    }
    pinned_despite_wildcards(key, op, &c.values)
}

/// Values with wildcards that still pin who: ARNs whose account field is a
/// fixed id (`arn:aws:sns:*:111122223333:*` is that account's), and
/// organization paths under a fixed organization (`o-abc/r-1/ou-2/*`).
fn pinned_despite_wildcards(key: &str, op: &str, values: &[String]) -> Option<Reach> {
    match key {
        "aws:PrincipalArn" | "aws:SourceArn" | "s3:DataAccessPointArn" => {
            // `ArnLike` matches each of the six components on its own, so a
            // fixed account component pins the account. `StringLike` matches
            // the whole string: a `*` before the account could swallow colons
            // (IAM paths may hold them), so every component up to it must be
            // literal.
            let field_wise = op.starts_with("Arn");
            let head_fixed = |v: &str| {
                let parts: Vec<&str> = v.splitn(6, ':').collect();
                parts.len() == 6
                    && parts[..5]
                        .iter()
                        .enumerate()
                        .all(|(i, p)| (field_wise && i < 4 || !p.contains(['*', '?'])) && !p.contains("${"))
            };
            let accounts = values
                .iter()
                .map(|v| policy::principal_account(v).filter(|_| head_fixed(v)))
                .collect::<Option<BTreeSet<String>>>()?;
            Some(Reach::Accounts(accounts))
        }
        // S3: `aws:userid` values of the form `AROLEID:*` (one role's sessions) are fixed.
        "aws:userid" => values
            .iter()
            .all(|v| v.strip_suffix(":*").is_some_and(fixed))
            .then(|| Reach::Restricted { key: key.into() }),
        "aws:PrincipalOrgPaths" | "aws:SourceOrgPaths" => {
            let orgs = values
                .iter()
                .map(|v| {
                    let (org, _) = v.split_once('/')?;
                    (org.starts_with("o-") && fixed(org)).then(|| org.to_string())
                })
                .collect::<Option<BTreeSet<String>>>()?;
            Some(Reach::Organizations(orgs))
        }
        _ => None,
    }
}

fn reach_of_key(key: &str, values: &[String]) -> Reach {
    let set = || values.iter().cloned().collect::<BTreeSet<_>>();
    match key {
        "aws:PrincipalAccount"
        | "aws:SourceAccount"
        | "aws:SourceOwner"
        | "s3:DataAccessPointAccount"
        | "kms:CallerAccount" => Reach::Accounts(set()),
        "aws:PrincipalOrgID" | "aws:PrincipalOrgPaths" | "aws:SourceOrgID" | "aws:SourceOrgPaths" => {
            Reach::Organizations(set())
        }
        "aws:PrincipalArn" | "aws:SourceArn" | "s3:DataAccessPointArn" => match arn_accounts(values) {
            Some(accts) => Reach::Accounts(accts),
            None => Reach::Restricted { key: key.into() },
        },
        other => Reach::Restricted { key: other.into() },
    }
}

/// What a Deny's negated condition pins for everyone it does not deny
/// (`Deny ... StringNotEquals aws:PrincipalOrgID o-1` keeps only o-1 in).
fn negated_narrowing(c: &Condition) -> Option<Reach> {
    if c.operator.starts_with("ForAnyValue:") {
        // false when the key is absent: the Deny spares everyone without it
        return None;
    }
    let (op, _) = base_operator(&c.operator);
    let key = narrowing_key(c)?;
    if key == "aws:SourceIp" {
        return (op == "NotIpAddress" && c.values.iter().all(|v| cidr_is_narrow(v)))
            .then(|| Reach::Restricted { key: key.into() });
    }
    let negated =
        matches!(op, "StringNotEquals" | "StringNotEqualsIgnoreCase" | "StringNotLike" | "ArnNotEquals" | "ArnNotLike");
    (negated && !c.values.is_empty() && c.values.iter().all(|v| fixed(v))).then(|| reach_of_key(key, &c.values))
}

/// Who a list of principals is, as one reach: their accounts, else (a
/// service, a canonical user) restricted to the list.
fn reach_of_principals(ps: &[Principal]) -> Reach {
    let accounts: Option<BTreeSet<String>> = ps.iter().map(|p| p.account().map(str::to_string)).collect();
    match accounts {
        Some(a) if !a.is_empty() => Reach::Accounts(a),
        _ => Reach::Restricted { key: "NotPrincipal".into() },
    }
}

/// The narrowest of several pins that must all hold (identity before network).
fn narrowest(pins: Vec<Reach>) -> Option<Reach> {
    let rank = |r: &Reach| match r {
        Reach::Accounts(_) => 0,
        Reach::Organizations(_) => 1,
        Reach::Restricted { .. } => 2,
        _ => 3,
    };
    pins.into_iter().min_by_key(rank)
}

/// Web identity providers anyone can get an identity from, with the claim
/// that must be pinned before a trust stops being open to all their users.
const PUBLIC_IDENTITY_PROVIDERS: &[(&str, &[&str])] = &[
    ("token.actions.githubusercontent.com", &["sub"]),
    ("accounts.google.com", &["aud", "sub"]),
    ("cognito-identity.amazonaws.com", &["aud"]),
    ("graph.facebook.com", &["app_id", "id"]),
    ("www.amazon.com", &["app_id", "user_id"]),
];

const GITHUB: &str = "token.actions.githubusercontent.com";

/// A GitHub Actions `sub` pattern that names its owner without wildcards
/// (`repo:acme/app:*`, `repo:acme/*`): only that organization's workflows.
/// `repo:*/app:*`, `repo:acme*` and `repo:*` pin nothing anyone cannot register.
fn github_owner_fixed(v: &str) -> bool {
    v.strip_prefix("repo:").and_then(|rest| rest.split_once('/')).is_some_and(|(owner, _)| fixed(owner))
}

/// The provider host of a Federated principal (`arn:...:oidc-provider/HOST` or `HOST`).
fn provider_host(p: &str) -> &str {
    p.rsplit_once(":oidc-provider/").map(|(_, h)| h).unwrap_or(p)
}

fn federated_reach(provider: &str, st: &Statement) -> Reach {
    let host = provider_host(provider);
    let Some((_, claims)) = PUBLIC_IDENTITY_PROVIDERS.iter().find(|(h, _)| *h == host) else {
        return Reach::Federated(provider.into());
    };
    let pinned = st.conditions.iter().any(|c| {
        let (op, if_exists) = base_operator(&c.operator);
        // condition keys are case-insensitive
        let key = c.key.to_ascii_lowercase();
        let claim = key.strip_prefix(host).and_then(|k| k.strip_prefix(':'));
        !if_exists
            && matches!(op, "StringEquals" | "StringLike" | "StringEqualsIgnoreCase")
            && claim.is_some_and(|k| claims.iter().any(|cl| k.eq_ignore_ascii_case(cl)))
            && !c.values.is_empty()
            && c.values.iter().all(|v| fixed(v) || (host == GITHUB && github_owner_fixed(v)))
    });
    if pinned { Reach::Federated(provider.into()) } else { Reach::Public }
}

/// Every way in a resource policy (bucket, trust, queue, key policy) gives,
/// statement by statement and principal by principal, after conditions and
/// Deny statements. `action` limits the answer to statements whose actions
/// overlap the pattern (`s3:*`, `sts:AssumeRole*`); `*` asks about all.
pub fn grants(doc: &Value, action: &str) -> Vec<Grant> {
    grants_on(doc, action, None)
}

/// [`grants`] into one resource (its ARN): Allow statements whose
/// `Resource`/`NotResource` does not match it give nothing, and a Deny
/// whose resources match it cancels what it covers, however it names the
/// resource (`*`, a pattern, `NotResource`).
pub fn grants_on(doc: &Value, action: &str, resource: Option<&str>) -> Vec<Grant> {
    let sts = statements(doc);
    let denies: Vec<&Statement> = sts.iter().filter(|s| !s.allow && s.to_everyone()).collect();
    let reaches = |st: &Statement| resource.is_none_or(|r| st.resources.matches(r, false));
    let mut out = Vec::new();
    for (index, st) in sts.iter().enumerate().filter(|(_, s)| s.allow && s.actions.overlaps(action, true) && reaches(s))
    {
        let mut who: Vec<Principal> = match (&st.principals, &st.not_principals) {
            (Some(ps), _) => ps.clone(),
            // Allow + NotPrincipal: everyone it does not list.
            (None, Some(_)) => vec![Principal::Anyone],
            (None, None) => continue,
        };
        who.sort();
        who.dedup();
        let pins: Vec<Reach> = st.conditions.iter().filter_map(narrowing).collect();
        // Deny statements to everyone that cover this grant's actions and resources.
        let mut cancelled = false;
        let mut deny_pins = Vec::new();
        for d in &denies {
            let resources_covered = match resource {
                Some(r) => d.resources.matches(r, false),
                None => d.resources.covers_matcher(&st.resources, false),
            };
            if !d.actions.covers_matcher(&st.actions, true) || !resources_covered {
                continue;
            }
            // Deny + NotPrincipal spares those it lists: they stay in.
            let spared = match &d.not_principals {
                Some(ps) if ps.contains(&Principal::Anyone) => continue, // denies nobody
                Some(ps) => Some(reach_of_principals(ps)),
                None => None,
            };
            match (d.conditions.as_slice(), spared) {
                ([], None) => cancelled = true,
                ([], Some(r)) => deny_pins.push(r),
                ([c], None) => deny_pins.extend(negated_narrowing(c)),
                _ => {}
            }
        }
        if cancelled {
            continue;
        }
        let description = policy::describe(st.raw);
        // Deny statements naming principals (not everyone), unconditional,
        // covering this grant: the principals they name get nothing here.
        let denied_to: Vec<&Principal> = sts
            .iter()
            .filter(|d| !d.allow && !d.to_everyone() && d.conditions.is_empty())
            .filter(|d| d.actions.covers_matcher(&st.actions, true))
            .filter(|d| match resource {
                Some(r) => d.resources.matches(r, false),
                None => d.resources.covers_matcher(&st.resources, false),
            })
            .flat_map(|d| d.principals.iter().flatten())
            .collect();
        for p in who {
            // a Deny to an account covers every principal of it
            let denied = denied_to
                .iter()
                .any(|d| **d == p || matches!(d, Principal::Account(a) if p.account() == Some(a.as_str())));
            if denied {
                continue;
            }
            let base = match &p {
                Principal::Anyone => Reach::Public,
                Principal::Account(a) | Principal::Arn { account: a, .. } => Reach::Accounts([a.clone()].into()),
                Principal::CanonicalUser(c) => Reach::CanonicalUsers([c.clone()].into()),
                Principal::Service(s) => Reach::Services([s.clone()].into()),
                Principal::Federated(f) => federated_reach(f, st),
                Principal::Other { kind, value } => Reach::Restricted { key: format!("{kind}:{value}") },
            };
            let all_pins: Vec<Reach> = pins.iter().chain(deny_pins.iter()).cloned().collect();
            let (reach, narrowed_by) = match base {
                Reach::Public => match narrowest(all_pins) {
                    Some(r) => {
                        let key = st
                            .conditions
                            .iter()
                            .find(|c| narrowing(c).as_ref() == Some(&r))
                            .map(|c| c.key.clone())
                            .or_else(|| Some("a Deny statement's condition".into()));
                        (r, key)
                    }
                    None => (Reach::Public, None),
                },
                other => (other, None),
            };
            let sid = st.raw.get("Sid").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
            out.push(Grant {
                reach,
                statement: description.clone(),
                narrowed_by,
                actions: st.actions.clone(),
                index,
                sid,
            });
        }
    }
    out
}

/// The grants that let anyone in.
pub fn public_grants(doc: &Value, action: &str) -> Vec<Grant> {
    grants(doc, action).into_iter().filter(|g| g.reach == Reach::Public).collect()
}

/// Accounts a document lets in besides `own` and `known` (directly or
/// through a condition pin), each with the statement that does it.
pub fn foreign_accounts(doc: &Value, action: &str, own: &str, known: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for g in grants(doc, action) {
        if let Reach::Accounts(accts) = &g.reach {
            for a in accts {
                if a != own && !known.contains(a) && !out.iter().any(|(x, _): &(String, String)| x == a) {
                    out.push((a.clone(), g.statement.clone()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn glob_match_table() {
        let cases = [
            ("s3:GetObject", "s3:getobject", true, true),
            ("s3:Get*", "s3:GetObjectAcl", true, true),
            ("iam:*Role*", "iam:PassRole", true, true),
            ("iam:*role*", "IAM:PASSROLE", true, true),
            ("iam:Pass?ole", "iam:PassRole", true, true),
            ("iam:Pass?ole", "iam:PassRRole", true, false),
            ("*", "anything:At", true, true),
            ("s*:*", "sts:AssumeRole", true, true),
            ("s3:Get*", "s3:PutObject", true, false),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b/key", false, true),
            ("arn:aws:s3:::B/*", "arn:aws:s3:::b/key", false, false),
            ("arn:aws:s3:::b", "arn:aws:s3:::b/key", false, false),
            ("", "", true, true),
            ("a*b*c", "aXXbYYc", true, true),
            ("a*b*c", "aXXbYY", true, false),
        ];
        for (p, v, ci, want) in cases {
            assert_eq!(glob_match(p, v, ci), want, "{p} vs {v}");
        }
    }

    #[test]
    fn glob_covers_and_overlaps_table() {
        let cases = [
            // pattern, sub, covers, overlaps
            ("s3:*", "s3:Get*", true, true),
            ("s3:Get*", "s3:*", false, true),
            ("*", "*", true, true),
            ("s3:GetObject", "s3:GetObject", true, true),
            ("s3:Get?bject", "s3:GetObject", true, true),
            ("s3:Get?bject", "s3:Get*", false, true),
            ("s3:Put*", "s3:Get*", false, false),
            ("iam:*", "iam:PassRole", true, true),
            ("*:*", "*", false, true),
            ("*", "*:*", true, true),
            ("arn:aws:iam::*:role/*", "arn:aws:iam::111111111111:role/*", true, true),
            ("arn:aws:iam::111111111111:role/*", "*", false, true),
            ("arn:aws:s3:::a/*", "arn:aws:s3:::b/*", false, false),
        ];
        for (p, s, covers, overlaps) in cases {
            assert_eq!(glob_covers(p, s, true), covers, "{p} covers {s}");
            assert_eq!(glob_overlaps(p, s, true), overlaps, "{p} overlaps {s}");
            assert_eq!(glob_overlaps(s, p, true), overlaps, "{s} overlaps {p} (symmetric)");
        }
    }

    fn doc(sts: Value) -> Value {
        policy::normalize(&json!({"Version": "2012-10-17", "Statement": sts}))
    }

    fn reaches(d: &Value, action: &str) -> Vec<Reach> {
        grants(d, action).into_iter().map(|g| g.reach).collect()
    }

    fn accts(a: &[&str]) -> Reach {
        Reach::Accounts(a.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn grants_table() {
        let get = |extra: Value| {
            let mut st =
                json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"});
            if let Value::Object(m) = extra {
                for (k, v) in m {
                    st[k] = v;
                }
            }
            st
        };
        let public = vec![Reach::Public];
        let cases: Vec<(&str, Value, Vec<Reach>)> = vec![
            ("plain public", doc(json!([get(json!({}))])), public.clone()),
            ("AWS * is public", doc(json!([get(json!({"Principal": {"AWS": "*"}}))])), public.clone()),
            (
                "AWS list with *",
                doc(json!([get(json!({"Principal": {"AWS": ["111111111111", "*"]}}))])),
                vec![Reach::Public, accts(&["111111111111"])],
            ),
            (
                "SecureTransport does not narrow",
                doc(json!([get(json!({"Condition": {"Bool": {"aws:SecureTransport": "true"}}}))])),
                public.clone(),
            ),
            (
                "CurrentTime does not narrow",
                doc(json!([get(
                    json!({"Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}})
                )])),
                public.clone(),
            ),
            (
                "fixed SourceVpce narrows",
                doc(json!([get(json!({"Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1a2b"}}}))])),
                vec![Reach::Restricted { key: "aws:SourceVpce".into() }],
            ),
            (
                "key names are case-insensitive",
                doc(json!([get(json!({"Condition": {"StringEquals": {"AWS:SOURCEVPC": "vpc-1"}}}))])),
                vec![Reach::Restricted { key: "aws:SourceVpc".into() }],
            ),
            (
                "wildcard SourceVpc does not narrow",
                doc(json!([get(json!({"Condition": {"StringLike": {"aws:SourceVpc": "vpc-*"}}}))])),
                public.clone(),
            ),
            (
                "IfExists does not narrow",
                doc(json!([get(json!({"Condition": {"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1"}}}))])),
                public.clone(),
            ),
            (
                "negated operator on Allow does not narrow",
                doc(json!([get(json!({"Condition": {"StringNotEquals": {"aws:SourceAccount": "111111111111"}}}))])),
                public.clone(),
            ),
            (
                "policy variable is not fixed",
                doc(json!([get(json!({"Condition": {"StringEquals": {"aws:userid": "${aws:username}"}}}))])),
                public.clone(),
            ),
            (
                "narrow SourceIp",
                doc(json!([get(
                    json!({"Condition": {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}})
                )])),
                vec![Reach::Restricted { key: "aws:SourceIp".into() }],
            ),
            (
                "0.0.0.0/1 is public",
                doc(json!([get(json!({"Condition": {"IpAddress": {"aws:SourceIp": "0.0.0.0/1"}}}))])),
                public.clone(),
            ),
            (
                "NotIpAddress on Allow is public",
                doc(json!([get(json!({"Condition": {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}))])),
                public.clone(),
            ),
            (
                "PrincipalOrgID",
                doc(json!([get(json!({"Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}))])),
                vec![Reach::Organizations(["o-abc".to_string()].into())],
            ),
            (
                "PrincipalAccount",
                doc(json!([get(json!({"Condition": {"StringEquals": {"aws:PrincipalAccount": "999999999999"}}}))])),
                vec![accts(&["999999999999"])],
            ),
            (
                "PrincipalArn of an account",
                doc(json!([get(
                    json!({"Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/r"}}})
                )])),
                vec![accts(&["111111111111"])],
            ),
            (
                "an ARN pattern with a fixed account pins that account",
                doc(json!([get(json!({"Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:111111111111:*"}}}))])),
                vec![accts(&["111111111111"])],
            ),
            (
                "ArnLike matches component by component",
                doc(json!([get(json!({"Condition": {"ArnLike": {"aws:PrincipalArn": "arn:*:iam::111111111111:*"}}}))])),
                vec![accts(&["111111111111"])],
            ),
            (
                "an ARN pattern with a wildcard account pins nothing",
                doc(json!([get(json!({"Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin"}}}))])),
                public.clone(),
            ),
            (
                "an OU path under a fixed organization",
                doc(json!([get(
                    json!({"Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-abc/r-1/ou-2/*"}}})
                )])),
                vec![Reach::Organizations(["o-abc".to_string()].into())],
            ),
            (
                "a path with a wildcard organization",
                doc(json!([get(json!({"Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-*/*"}}}))])),
                public.clone(),
            ),
            (
                "SourceArn without account (a bucket)",
                doc(json!([get(json!({"Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::logs"}}}))])),
                vec![Reach::Restricted { key: "aws:SourceArn".into() }],
            ),
            (
                "identity and network pins: identity wins",
                doc(json!([get(
                    json!({"Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1", "aws:PrincipalAccount": "111111111111"}}})
                )])),
                vec![accts(&["111111111111"])],
            ),
            (
                "NotPrincipal with Allow is everyone else",
                doc(
                    json!([{"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]),
                ),
                public.clone(),
            ),
            (
                "unconditional Deny to everyone cancels",
                doc(
                    json!([get(json!({})), {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]),
                ),
                vec![],
            ),
            (
                "Deny on fewer actions does not cancel",
                doc(
                    json!([get(json!({"Action": "s3:Get*"})), {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]),
                ),
                public.clone(),
            ),
            (
                "Deny on another resource does not cancel",
                doc(
                    json!([get(json!({})), {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::other/*"}]),
                ),
                public.clone(),
            ),
            (
                "Deny without SecureTransport does not cancel",
                doc(
                    json!([get(json!({})), {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]),
                ),
                public.clone(),
            ),
            (
                "Deny outside the organization narrows",
                doc(json!([get(json!({})), {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
                    "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc"}}}])),
                vec![Reach::Organizations(["o-abc".to_string()].into())],
            ),
            (
                "Deny with NotPrincipal keeps in those it spares",
                doc(
                    json!([get(json!({})), {"Effect": "Deny", "NotPrincipal": {"AWS": "111111111111"}, "Action": "*", "Resource": "*"}]),
                ),
                vec![accts(&["111111111111"])],
            ),
            (
                "Deny with NotPrincipal * denies nobody",
                doc(
                    json!([get(json!({})), {"Effect": "Deny", "NotPrincipal": {"AWS": "*"}, "Action": "*", "Resource": "*"}]),
                ),
                public.clone(),
            ),
            (
                "Deny with ForAnyValue and a negated operator spares those without the key",
                doc(json!([get(json!({})), {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
                    "Condition": {"ForAnyValue:StringNotEquals": {"aws:PrincipalOrgID": "o-abc"}}}])),
                public.clone(),
            ),
            (
                "aws:userid of one role's sessions is fixed",
                doc(json!([get(json!({"Condition": {"StringLike": {"aws:userid": "AROAEXAMPLEID:*"}}}))])),
                vec![Reach::Restricted { key: "aws:userid".into() }],
            ),
            (
                "aws:userid with a wildcard role is not",
                doc(json!([get(json!({"Condition": {"StringLike": {"aws:userid": "AROA*"}}}))])),
                public.clone(),
            ),
            (
                "a string pattern with a wildcard before the account pins nothing",
                doc(json!([get(
                    json!({"Condition": {"StringLike": {"aws:PrincipalArn": "arn:*:iam::111111111111:*"}}})
                )])),
                public.clone(),
            ),
            (
                "Deny NotAction that spares the grant does not cancel",
                doc(
                    json!([get(json!({})), {"Effect": "Deny", "Principal": "*", "NotAction": "s3:Get*", "Resource": "*"}]),
                ),
                public.clone(),
            ),
            (
                "account principal",
                doc(json!([get(json!({"Principal": {"AWS": "arn:aws:iam::222222222222:root"}}))])),
                vec![accts(&["222222222222"])],
            ),
            (
                "service principal",
                doc(json!([get(json!({"Principal": {"Service": "logging.s3.amazonaws.com"}}))])),
                vec![Reach::Services(["logging.s3.amazonaws.com".to_string()].into())],
            ),
            (
                "canonical user",
                doc(json!([get(json!({"Principal": {"CanonicalUser": "abc"}}))])),
                vec![Reach::CanonicalUsers(["abc".to_string()].into())],
            ),
        ];
        for (name, d, want) in cases {
            assert_eq!(reaches(&d, "s3:*"), want, "{name}");
        }
        // the action filter
        let d = doc(json!([get(json!({}))]));
        assert_eq!(reaches(&d, "s3:Put*"), vec![]);
        assert_eq!(reaches(&d, "S3:GETOBJECT"), public);
    }

    #[test]
    fn federated_trust_table() {
        let trust = |principal: Value, cond: Value| {
            let mut st = json!({"Effect": "Allow", "Principal": {"Federated": principal}, "Action": "sts:AssumeRoleWithWebIdentity"});
            if !cond.is_null() {
                st["Condition"] = cond;
            }
            doc(json!([st]))
        };
        let gh = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com";
        let cases: Vec<(Value, bool)> = vec![
            (trust(json!(gh), Value::Null), true),
            (
                trust(
                    json!(gh),
                    json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}),
                ),
                true,
            ),
            (
                trust(json!(gh), json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/app:*"}})),
                false,
            ),
            (trust(json!(gh), json!({"StringLike": {"token.actions.githubusercontent.com:sub": "*"}})), true),
            (trust(json!(gh), json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"}})), true),
            (
                trust(
                    json!(gh),
                    json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*/*:ref:refs/heads/main"}}),
                ),
                true,
            ),
            (
                trust(json!(gh), json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*/app:*"}})),
                true,
            ),
            (trust(json!(gh), json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme*"}})), true),
            (
                trust(json!(gh), json!({"StringLike": {"Token.Actions.GithubUserContent.com:sub": "repo:acme/app:*"}})),
                false,
            ),
            (
                trust(
                    json!(gh),
                    json!({"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:acme/app:ref:refs/heads/main"}}),
                ),
                false,
            ),
            (trust(json!("cognito-identity.amazonaws.com"), Value::Null), true),
            (
                trust(
                    json!("cognito-identity.amazonaws.com"),
                    json!({"StringEquals": {"cognito-identity.amazonaws.com:aud": "us-east-1:pool"}}),
                ),
                false,
            ),
            (trust(json!("arn:aws:iam::111111111111:saml-provider/corp"), Value::Null), false),
        ];
        for (d, public) in cases {
            assert_eq!(!public_grants(&d, "sts:AssumeRole*").is_empty(), public, "{d}");
        }
    }

    #[test]
    fn allows_table() {
        let cases: Vec<(Value, &str, &str, bool)> = vec![
            (doc(json!([{"Effect": "Allow", "Action": "iam:*Role*", "Resource": "*"}])), "iam:PassRole", "*", true),
            (doc(json!([{"Effect": "Allow", "Action": "IAM:PASSROLE", "Resource": "*"}])), "iam:PassRole", "*", true),
            (
                doc(json!([{"Effect": "Allow", "Action": "iam:Pass*", "Resource": "arn:aws:iam::*:role/*"}])),
                "iam:PassRole",
                "arn:aws:iam::1:role/*",
                true,
            ),
            (
                doc(json!([{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/app"}])),
                "iam:PassRole",
                "arn:aws:iam::1:role/*",
                false,
            ),
            (doc(json!([{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}])), "iam:PassRole", "*", true),
            (doc(json!([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}])), "iam:PassRole", "*", false),
            (
                doc(json!([{"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::x"}])),
                "iam:PassRole",
                "arn:aws:iam::1:role/*",
                true,
            ),
            (
                doc(
                    json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]),
                ),
                "iam:PassRole",
                "*",
                false,
            ),
            (doc(json!([{"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*"}])), "iam:PassRole", "*", false),
            (
                // a Deny on one role leaves every other role
                doc(json!([{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
                    {"Effect": "Deny", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/x"}])),
                "iam:PassRole",
                "arn:aws:iam::1:role/*",
                true,
            ),
        ];
        for (d, action, res, want) in cases {
            assert_eq!(allows(&d, action, res).is_some(), want, "{d} {action} {res}");
        }
        let every =
            |a: Value| allows_every_action(&Statement::read(&json!({"Effect": "Allow", "Action": a, "Resource": "*"})));
        assert!(every(json!("*")));
        assert!(every(json!("*:*")));
        assert!(every(json!(["s3:*", "*"])));
        assert!(!every(json!("s3:*")));
        assert!(!every(json!("iam:*")));
    }

    #[test]
    fn foreign_accounts_table() {
        let d = doc(json!([
            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::999999999999:root", "222222222222"]}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:PrincipalAccount": "888888888888"}}}
        ]));
        let got: BTreeSet<String> = foreign_accounts(&d, "sts:AssumeRole*", "111111111111", &["222222222222".into()])
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        assert_eq!(got, ["888888888888".to_string(), "999999999999".to_string()].into());
    }

    #[test]
    fn cidr_table() {
        for (c, narrow) in [
            ("0.0.0.0/0", false),
            ("0.0.0.0/1", false),
            ("10.0.0.0/8", true),
            ("203.0.113.7", true),
            ("203.0.113.7/32", true),
            ("::/0", false),
            ("2001:db8::/32", true),
            ("nonsense", false),
            ("1.2.3.4/40", false),
        ] {
            assert_eq!(cidr_is_narrow(c), narrow, "{c}");
        }
    }
}
