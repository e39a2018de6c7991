//! Decoy profiles: plain data describing what a real installer leaves in a cluster, so that
//! a decoy copies it. The built-in profiles are the YAML files under `profiles/`, read with
//! the same schema and checks as a user's `plant --profile-file`; adding a profile adds a
//! file, not a code path.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::decoy::realism;

/// What `--profile-file` and the built-in profiles are written in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    /// The name users pass to `--profile`.
    pub name: String,
    pub summary: String,
    /// Where the real thing comes from: the installer's source or docs.
    pub source: String,
    pub era: Era,
    /// The namespace the real installer uses (`-n` overrides it).
    pub namespace: String,
    pub service_account: ObjectShape,
    pub secret: SecretShape,
    #[serde(default)]
    pub fit: FitSignals,
    /// What the real installer makes and the decoy does not (its RBAC, at least).
    pub leaves_out: String,
}

/// The years in which a cluster plausibly got such an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Era {
    pub from: i16,
    /// The last year a new one was made; none while installers still make it.
    #[serde(default)]
    pub until: Option<i16>,
    #[serde(default)]
    pub note: String,
    /// The real token is used all day (a controller polls with it): from Kubernetes 1.28
    /// on, a real one carries a recent `kubernetes.io/legacy-token-last-used` label, and a
    /// decoy none.
    #[serde(default)]
    pub used_daily: bool,
}

/// The service account's metadata. Values may use `{account}`, `{namespace}` and
/// `{secret}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectShape {
    /// The default name (`--name` overrides it).
    pub name: String,
    /// The field manager the real installer leaves in managedFields.
    pub field_manager: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Made with `kubectl apply`, which records the applied object in the
    /// `kubectl.kubernetes.io/last-applied-configuration` annotation.
    #[serde(default)]
    pub last_applied: bool,
}

/// The token Secret's name and metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretShape {
    /// The name: `{account}` is the account's name, and `{suffix}` five characters like
    /// the ones Kubernetes adds to generated names (derived from the key: see tracking).
    pub name: String,
    pub field_manager: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub last_applied: bool,
    /// Owned by the service account, as some installers make it.
    #[serde(default)]
    pub owner_reference: bool,
}

/// What the cluster may hold beside a real install, read cheaply by `plant`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FitSignals {
    /// Objects a real install leaves beside the account: any one found makes it fit.
    #[serde(default)]
    pub companions: Vec<ObjectQuery>,
    /// Objects without which the account makes no sense (the namespace of a product).
    #[serde(default)]
    pub requires: Vec<ObjectQuery>,
    /// Objects that mean the real installer is here: planting beside them would collide
    /// with it (it would adopt the decoy and grant it what the real account holds).
    #[serde(default)]
    pub conflicts: Vec<ObjectQuery>,
}

/// An object looked for by name, or by label selector in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectQuery {
    pub kind: QueryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
pub enum QueryKind {
    Namespace,
    Deployment,
    ServiceAccount,
    ConfigMap,
    ClusterRole,
    ClusterRoleBinding,
}

impl QueryKind {
    pub fn namespaced(self) -> bool {
        matches!(
            self,
            QueryKind::Deployment | QueryKind::ServiceAccount | QueryKind::ConfigMap
        )
    }
}

impl std::fmt::Display for ObjectQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} ", self.kind)?;
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        match (&self.name, &self.label_selector) {
            (Some(name), _) => write!(f, "{name}"),
            (None, Some(selector)) => write!(f, "labelled {selector}"),
            (None, None) => write!(f, "?"),
        }
    }
}

const BUILT_IN: &[(&str, &str)] = &[
    ("tiller.yaml", include_str!("../../profiles/tiller.yaml")),
    (
        "argocd-manager.yaml",
        include_str!("../../profiles/argocd-manager.yaml"),
    ),
    (
        "headlamp-admin.yaml",
        include_str!("../../profiles/headlamp-admin.yaml"),
    ),
    (
        "rancher-kontainer-engine.yaml",
        include_str!("../../profiles/rancher-kontainer-engine.yaml"),
    ),
    (
        "dashboard-admin-user.yaml",
        include_str!("../../profiles/dashboard-admin-user.yaml"),
    ),
    ("gitlab.yaml", include_str!("../../profiles/gitlab.yaml")),
];

/// The built-in profiles, `tiller` first (the default).
pub static PROFILES: LazyLock<Vec<Profile>> = LazyLock::new(|| {
    BUILT_IN
        .iter()
        .map(|(file, text)| {
            parse(text).unwrap_or_else(|e| panic!("built-in profile {file} is invalid: {e}"))
        })
        .collect()
});

/// The default profile.
pub fn default_profile() -> &'static Profile {
    &PROFILES[0]
}

/// The operator's own profiles met in this run (`--profile-file`, or recorded by a plant).
static OWN: std::sync::Mutex<Vec<&'static Profile>> = std::sync::Mutex::new(Vec::new());

/// A built-in profile, or an own profile already met in this run, by name.
pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name).or_else(|| {
        OWN.lock()
            .expect("profile registry")
            .iter()
            .copied()
            .find(|p| p.name == name)
    })
}

/// Every profile known in this run: the built-in ones, then the operator's own.
pub fn all() -> Vec<&'static Profile> {
    PROFILES
        .iter()
        .chain(OWN.lock().expect("profile registry").iter().copied())
        .collect()
}

/// Keeps an own profile for the rest of the run. A built-in name cannot be taken, and a
/// name met before keeps its first definition unless the two are the same.
pub fn adopt(profile: Profile) -> Result<&'static Profile, ProfileError> {
    if let Some(known) = find(&profile.name) {
        if *known == profile {
            return Ok(known);
        }
        let why = if PROFILES.iter().any(|p| p.name == profile.name) {
            "a built-in profile has this name; give yours another"
        } else {
            "another profile of this name, with other contents, is in use in this run"
        };
        return Err(Profile::invalid("name", &profile.name, why));
    }
    let leaked: &'static Profile = Box::leak(Box::new(profile));
    OWN.lock().expect("profile registry").push(leaked);
    Ok(leaked)
}

/// What a plant records of its profile: nothing for a built-in one (its name says all).
pub fn definition_to_record(profile: &Profile) -> Option<serde_json::Value> {
    if PROFILES.iter().any(|p| p == profile) {
        return None;
    }
    serde_json::to_value(profile).ok()
}

/// The profile a record names: built-in, or the definition the record carries.
pub fn from_record(name: &str, definition: Option<&serde_json::Value>) -> Option<&'static Profile> {
    if let Some(profile) = PROFILES.iter().find(|p| p.name == name) {
        return Some(profile);
    }
    let profile: Profile = serde_json::from_value(definition?.clone()).ok()?;
    profile.check().ok()?;
    adopt(profile).ok()
}

pub fn names() -> String {
    PROFILES
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a profile file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("it is not a profile: {0}")]
    Syntax(String),
    #[error("{field} is {value:?}: {why}")]
    Invalid {
        field: String,
        value: String,
        why: String,
    },
}

/// Reads and checks a profile written in the schema above.
pub fn parse(text: &str) -> Result<Profile, ProfileError> {
    let profile: Profile =
        serde_saphyr::from_str(text).map_err(|e| ProfileError::Syntax(e.to_string()))?;
    profile.check()?;
    Ok(profile)
}

const PLACEHOLDERS: &[&str] = &["{account}", "{namespace}", "{secret}", "{suffix}"];

/// RFC 1123 label (a namespace's name): 1 to 63 lowercase letters, digits and '-',
/// starting and ending with a letter or digit.
pub fn is_dns_label(text: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !text.is_empty()
        && text.len() <= 63
        && text.chars().all(|c| alnum(c) || c == '-')
        && text.starts_with(alnum)
        && text.ends_with(alnum)
}

/// RFC 1123 subdomain (most objects' names): labels joined by '.', 253 characters at most.
pub fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= 253 && text.split('.').all(is_dns_label)
}

/// Whether `key` is a valid label or annotation key (an optional DNS-subdomain prefix and
/// a name of up to 63 characters).
fn is_metadata_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    name_ok && prefix.is_none_or(is_dns_subdomain)
}

impl Profile {
    fn invalid(field: &str, value: &str, why: &str) -> ProfileError {
        ProfileError::Invalid {
            field: field.to_string(),
            value: value.to_string(),
            why: why.to_string(),
        }
    }

    /// The checks a profile file must pass: valid names and keys once the placeholders are
    /// filled, placeholders known, and no word that gives the decoy away anywhere the
    /// cluster will show.
    pub fn check(&self) -> Result<(), ProfileError> {
        let invalid = Self::invalid;
        if !is_dns_label(&self.name) {
            return Err(invalid(
                "name",
                &self.name,
                "a profile's name is a DNS label (lowercase letters, digits and '-')",
            ));
        }
        if !is_dns_label(&self.namespace) {
            return Err(invalid(
                "namespace",
                &self.namespace,
                "not a DNS label (lowercase letters, digits and '-')",
            ));
        }
        if !is_dns_subdomain(&self.service_account.name) {
            return Err(invalid(
                "serviceAccount.name",
                &self.service_account.name,
                "not a DNS subdomain (lowercase letters, digits, '-' and '.')",
            ));
        }
        let sample = self.fill(&self.service_account.name, "bcdfg");
        let secret = sample.secret.clone();
        if !is_dns_subdomain(&secret) {
            return Err(invalid(
                "secret.name",
                &self.secret.name,
                &format!("gives {secret:?}, not a DNS subdomain"),
            ));
        }
        if self.secret.name.matches("{suffix}").count() > 1 {
            return Err(invalid(
                "secret.name",
                &self.secret.name,
                "{suffix} may appear once",
            ));
        }
        if !self.secret.name.contains("{account}") && !self.secret.name.contains("{suffix}") {
            return Err(invalid(
                "secret.name",
                &self.secret.name,
                "use {account} or {suffix}: one fixed name would fit only one account",
            ));
        }
        if self.era.until.is_some_and(|until| until < self.era.from) {
            return Err(invalid(
                "era.until",
                &format!("{:?}", self.era.until),
                "is before era.from",
            ));
        }
        let fields: [(&str, &ShapeView); 2] = [
            ("serviceAccount", &self.service_account.view()),
            ("secret", &self.secret.view()),
        ];
        for (object, shape) in fields {
            if shape.field_manager.is_empty() || shape.field_manager.len() > 128 {
                return Err(invalid(
                    &format!("{object}.fieldManager"),
                    shape.field_manager,
                    "a field manager is 1 to 128 characters",
                ));
            }
            for (kind, map) in [("labels", shape.labels), ("annotations", shape.annotations)] {
                for (key, value) in map {
                    let field = format!("{object}.{kind}.{key}");
                    if !is_metadata_key(key) {
                        return Err(invalid(&field, key, "not a valid label or annotation key"));
                    }
                    if key == LAST_APPLIED || key.starts_with("kubectl.kubernetes.io/") {
                        return Err(invalid(
                            &field,
                            key,
                            "kubectl's own annotations come from lastApplied: true",
                        ));
                    }
                    if let Some(unknown) = unknown_placeholder(value) {
                        return Err(invalid(
                            &field,
                            value,
                            &format!("{unknown} is not one of {}", PLACEHOLDERS.join(", ")),
                        ));
                    }
                    if kind == "labels" {
                        let filled = sample.fill_value(value);
                        let label_ok = filled.is_empty()
                            || (filled.len() <= 63
                                && filled
                                    .chars()
                                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                                && filled.starts_with(|c: char| c.is_ascii_alphanumeric())
                                && filled.ends_with(|c: char| c.is_ascii_alphanumeric()));
                        if !label_ok {
                            return Err(invalid(
                                &field,
                                value,
                                &format!("gives {filled:?}, not a valid label value"),
                            ));
                        }
                    }
                }
            }
        }
        if let Some(unknown) = unknown_placeholder(&self.secret.name) {
            return Err(invalid(
                "secret.name",
                &self.secret.name,
                &format!("{unknown} is not a known placeholder"),
            ));
        }
        for (field, query) in self
            .fit
            .companions
            .iter()
            .map(|q| ("fit.companions", q))
            .chain(self.fit.requires.iter().map(|q| ("fit.requires", q)))
            .chain(self.fit.conflicts.iter().map(|q| ("fit.conflicts", q)))
        {
            let text = query.to_string();
            if query.kind.namespaced() != query.namespace.is_some() {
                return Err(invalid(
                    field,
                    &text,
                    if query.kind.namespaced() {
                        "this kind needs a namespace"
                    } else {
                        "this kind has no namespace"
                    },
                ));
            }
            if query.name.is_some() == query.label_selector.is_some() {
                return Err(invalid(field, &text, "give either name or labelSelector"));
            }
        }
        // Everything the cluster will show, once filled in.
        let words = realism::giveaways_in(&self.visible_text(&sample));
        if let Some(word) = words.first() {
            return Err(invalid(
                "profile",
                &self.name,
                &format!(
                    "what it writes to the cluster contains the word {word:?}, which gives the \
                     account away"
                ),
            ));
        }
        Ok(())
    }

    /// The metadata this profile gives an account named `account`, whose Secret's generated
    /// suffix is `suffix`.
    pub fn fill(&self, account: &str, suffix: &str) -> Filled {
        let secret = self
            .secret
            .name
            .replace("{account}", account)
            .replace("{suffix}", suffix);
        Filled {
            namespace: self.namespace.clone(),
            account: account.to_string(),
            secret,
        }
    }

    /// Whether the Secret's name carries the keyed suffix: such decoys are found with the
    /// key alone; others by this workstation's record (see tracking).
    pub fn keyed_secret_name(&self) -> bool {
        self.secret.name.contains("{suffix}")
    }

    /// The account a Secret named `secret` belongs to under this profile's naming, if the
    /// name has this profile's form.
    pub fn account_of_secret<'a>(&self, secret: &'a str) -> Option<&'a str> {
        let template = self.secret.name.as_str();
        let (before, after) = template.split_once("{account}")?;
        let rest = secret.strip_prefix(before)?;
        match after.split_once("{suffix}") {
            Some((middle, tail)) => {
                let rest = rest.strip_suffix(tail)?;
                if rest.len() < tracking_suffix_len() {
                    return None;
                }
                let (head, suffix) = rest.split_at(rest.len() - tracking_suffix_len());
                let account = head.strip_suffix(middle)?;
                let alphabet_ok = suffix
                    .bytes()
                    .all(|c| crate::decoy::tracking::SUFFIX_ALPHABET.contains(&c));
                (alphabet_ok && !account.is_empty()).then_some(account)
            }
            None => rest.strip_suffix(after).filter(|a| !a.is_empty()),
        }
    }
}

fn tracking_suffix_len() -> usize {
    crate::decoy::tracking::SUFFIX_LEN
}

pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

struct ShapeView<'a> {
    field_manager: &'a str,
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
}

impl ObjectShape {
    fn view(&self) -> ShapeView<'_> {
        ShapeView {
            field_manager: &self.field_manager,
            labels: &self.labels,
            annotations: &self.annotations,
        }
    }
}

impl SecretShape {
    fn view(&self) -> ShapeView<'_> {
        ShapeView {
            field_manager: &self.field_manager,
            labels: &self.labels,
            annotations: &self.annotations,
        }
    }
}

fn unknown_placeholder(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').map(|e| start + e + 1)?;
        let placeholder = &rest[start..end];
        if !PLACEHOLDERS.contains(&placeholder) {
            return Some(placeholder.to_string());
        }
        rest = &rest[end..];
    }
    None
}

/// The names one decoy of a profile gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    pub namespace: String,
    pub account: String,
    pub secret: String,
}

impl Filled {
    pub fn fill_value(&self, value: &str) -> String {
        value
            .replace("{account}", &self.account)
            .replace("{namespace}", &self.namespace)
            .replace("{secret}", &self.secret)
    }

    fn visible_text(&self) -> String {
        format!("{} {} {}", self.namespace, self.account, self.secret)
    }
}

impl Profile {
    /// Labels and annotations of the account and the Secret, filled in for `names`.
    pub fn metadata_for(&self, names: &Filled) -> ObjectsMetadata {
        let fill = |map: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            map.iter()
                .map(|(k, v)| (k.clone(), names.fill_value(v)))
                .collect()
        };
        ObjectsMetadata {
            account_labels: fill(&self.service_account.labels),
            account_annotations: fill(&self.service_account.annotations),
            secret_labels: fill(&self.secret.labels),
            secret_annotations: fill(&self.secret.annotations),
        }
    }

    /// Every string the cluster shows for a decoy of this profile, to look for giveaways.
    pub fn visible_text(&self, names: &Filled) -> String {
        let meta = self.metadata_for(names);
        let mut text = names.visible_text();
        for map in [
            &meta.account_labels,
            &meta.account_annotations,
            &meta.secret_labels,
            &meta.secret_annotations,
        ] {
            for (k, v) in map {
                text.push_str(&format!(" {k}={v}"));
            }
        }
        text.push_str(&format!(
            " {} {}",
            self.service_account.field_manager, self.secret.field_manager
        ));
        text
    }
}

/// Filled-in metadata of a decoy's two objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectsMetadata {
    pub account_labels: BTreeMap<String, String>,
    pub account_annotations: BTreeMap<String, String>,
    pub secret_labels: BTreeMap<String, String>,
    pub secret_annotations: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiller() -> &'static Profile {
        find("tiller").unwrap()
    }

    #[test]
    fn every_built_in_profile_reads_and_tiller_is_the_default() {
        assert_eq!(PROFILES.len(), BUILT_IN.len());
        assert!(PROFILES.len() >= 5);
        assert_eq!(default_profile().name, "tiller");
        assert_eq!(find("nope"), None);
        let mut seen = std::collections::BTreeSet::new();
        for profile in PROFILES.iter() {
            assert!(seen.insert(&profile.name), "{} twice", profile.name);
            assert!(!profile.source.is_empty() && !profile.leaves_out.is_empty());
        }
    }

    #[test]
    fn no_built_in_profile_says_what_it_is() {
        for profile in PROFILES.iter() {
            for account in [profile.service_account.name.as_str(), "ops"] {
                let names = profile.fill(account, "bcdfg");
                let text = profile.visible_text(&names);
                assert!(
                    realism::giveaways_in(&text).is_empty(),
                    "{}: {text}",
                    profile.name
                );
            }
        }
    }

    #[test]
    fn the_tiller_account_carries_no_labels_as_the_helm_docs_made_it() {
        let names = tiller().fill("tiller", "bcdfg");
        let meta = tiller().metadata_for(&names);
        assert!(meta.account_labels.is_empty() && meta.account_annotations.is_empty());
        assert_eq!(names.secret, "tiller-token-bcdfg");
        assert_eq!(tiller().service_account.field_manager, "kubectl-create");
    }

    #[test]
    fn placeholders_are_filled_in_names_and_metadata() {
        let rancher = find("rancher-kontainer-engine").unwrap();
        let names = rancher.fill("kontainer-engine", "x7k2p");
        assert_eq!(names.secret, "kontainer-engine-token-x7k2p");
        let meta = rancher.metadata_for(&names);
        assert_eq!(
            meta.account_annotations["rancher.io/service-account.secret-ref"],
            "cattle-system/kontainer-engine-token-x7k2p"
        );
        assert_eq!(
            meta.secret_labels["cattle.io/service-account.name"],
            "kontainer-engine"
        );
        let argocd = find("argocd-manager").unwrap();
        assert_eq!(
            argocd.fill("argocd-manager", "bcdfg").secret,
            "argocd-manager-long-lived-token"
        );
        assert!(!argocd.keyed_secret_name() && rancher.keyed_secret_name());
    }

    #[test]
    fn the_account_is_read_back_from_a_secret_name() {
        assert_eq!(
            tiller().account_of_secret("tiller-token-x7k2p"),
            Some("tiller")
        );
        assert_eq!(
            tiller().account_of_secret("helm-server-token-x7k2p"),
            Some("helm-server")
        );
        // Not the generated alphabet (vowels), too short, or another form.
        assert_eq!(tiller().account_of_secret("tiller-token-aeiou"), None);
        assert_eq!(tiller().account_of_secret("tiller-token-x7k"), None);
        assert_eq!(tiller().account_of_secret("-token-x7k2p"), None);
        let argocd = find("argocd-manager").unwrap();
        assert_eq!(
            argocd.account_of_secret("argocd-manager-long-lived-token"),
            Some("argocd-manager")
        );
        assert_eq!(argocd.account_of_secret("tiller-token-x7k2p"), None);
        let headlamp = find("headlamp-admin").unwrap();
        assert_eq!(
            headlamp.account_of_secret("headlamp-admin"),
            Some("headlamp-admin")
        );
    }

    fn custom(edit: impl FnOnce(&mut String)) -> Result<Profile, ProfileError> {
        let mut text = include_str!("../../profiles/argocd-manager.yaml")
            .replace("\nname: argocd-manager\n", "\nname: ci-deployer\n");
        edit(&mut text);
        parse(&text)
    }

    #[test]
    fn a_user_profile_is_read_with_the_built_in_schema() {
        let profile = custom(|_| {}).unwrap();
        assert_eq!(profile.name, "ci-deployer");
    }

    #[test]
    fn giveaway_words_are_refused_as_words_only() {
        for bad in ["honeytoken-ci", "ci-decoy", "Trap.Account", "canary"] {
            let error = custom(|t| {
                *t = t.replace("  name: argocd-manager\n", &format!("  name: {bad}\n"));
            })
            .unwrap_err()
            .to_string();
            assert!(
                error.contains("gives the account away") || error.contains("DNS subdomain"),
                "{bad}: {error}"
            );
        }
        for fine in ["bootstrap", "drilldown-sync", "honeycomb-agent"] {
            let profile = custom(|t| {
                *t = t.replace("  name: argocd-manager\n", &format!("  name: {fine}\n"));
            });
            assert!(profile.is_ok(), "{fine}: {profile:?}");
        }
        let error = custom(|t| {
            *t = t.replace(
                "fieldManager: argocd\nsecret:",
                "fieldManager: argocd\n  labels:\n    purpose: decoy\nsecret:",
            )
        })
        .unwrap_err();
        assert!(error.to_string().contains("\"decoy\""), "{error}");
    }

    #[test]
    fn invalid_profiles_say_which_field_and_why() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "namespace: kube-system",
                "namespace: Kube_System",
                "namespace",
            ),
            (
                "name: \"{account}-long-lived-token\"",
                "name: \"fixed-token\"",
                "secret.name",
            ),
            (
                "name: \"{account}-long-lived-token\"",
                "name: \"{acount}-token\"",
                "secret.name",
            ),
            (
                "name: \"{account}-long-lived-token\"",
                "name: \"{account}-{suffix}-{suffix}\"",
                "{suffix} may appear once",
            ),
            ("from: 2025", "from: 2025\n  until: 2019", "era.until"),
            (
                "- {kind: ClusterRole, name: argocd-manager-role}",
                "- {kind: ClusterRole, namespace: x, name: argocd-manager-role}",
                "has no namespace",
            ),
            (
                "- {kind: ClusterRole, name: argocd-manager-role}",
                "- {kind: ClusterRole}",
                "either name or labelSelector",
            ),
            ("leavesOut:", "colour: blue\nleavesOut:", "unknown field"),
            (
                "fieldManager: argocd\nsecret:",
                "fieldManager: \"\"\nsecret:",
                "fieldManager",
            ),
            (
                "fieldManager: argocd\nsecret:",
                "fieldManager: argocd\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: x\nsecret:",
                "lastApplied",
            ),
            (
                "fieldManager: argocd\nsecret:",
                "fieldManager: argocd\n  labels:\n    owner: \"{owner}\"\nsecret:",
                "{owner}",
            ),
            (
                "fieldManager: argocd\nsecret:",
                "fieldManager: argocd\n  labels:\n    owner: \"a b\"\nsecret:",
                "not a valid label value",
            ),
        ];
        for (from, to, expected) in cases {
            let error = custom(|t| {
                assert!(t.contains(from), "{from}");
                *t = t.replacen(from, to, 1);
            })
            .unwrap_err()
            .to_string();
            assert!(error.contains(expected), "{to}: {error}");
        }
        assert!(matches!(parse("- a list"), Err(ProfileError::Syntax(_))));
    }
}
