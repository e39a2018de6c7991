//! What kubeconfig names reveal about a managed cluster: the provider's cluster name,
//! region and account or project, read from the context and cluster names and the server
//! URL as the providers' CLIs write them. Pure.

/// One fact read from kubeconfig names, and whether the name format guarantees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HintPart {
    pub value: String,
    /// False when it is an educated guess (an AKS context name usually is the cluster's).
    pub certain: bool,
}

impl HintPart {
    fn known(value: &str) -> HintPart {
        HintPart {
            value: value.to_string(),
            certain: true,
        }
    }

    fn guess(value: &str) -> HintPart {
        HintPart {
            value: value.to_string(),
            certain: false,
        }
    }
}

/// What kubeconfig names reveal about a managed cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterHint {
    /// The cluster's name at its provider.
    pub name: Option<HintPart>,
    /// AWS or Azure region, or GKE location (a region or a zone).
    pub region: Option<HintPart>,
    /// AWS account ID or Google Cloud project ID.
    pub account: Option<HintPart>,
    /// The API server's host name (lower case, no port), e.g. to find an AKS cluster by FQDN.
    pub server_host: Option<String>,
}

impl ClusterHint {
    /// Fills only what is still missing, so the first and most certain source wins.
    fn merge(mut self, other: ClusterHint) -> ClusterHint {
        self.name = self.name.or(other.name);
        self.region = self.region.or(other.region);
        self.account = self.account.or(other.account);
        self.server_host = self.server_host.or(other.server_host);
        self
    }
}

/// Reads the provider's cluster name, region and account or project from the kubeconfig
/// context and cluster names and the server URL, as the providers' CLIs write them.
pub fn cluster_name_hint(context: &str, cluster: &str, server: &str) -> ClusterHint {
    let host = server_host(server);
    let from_names = [cluster, context]
        .into_iter()
        .filter_map(|name| {
            eks_arn(name)
                .or_else(|| eksctl_name(name))
                .or_else(|| gke_name(name))
        })
        .fold(ClusterHint::default(), ClusterHint::merge);
    let from_host = host.as_deref().map(host_hint).unwrap_or_default();
    let mut hint = from_names.merge(from_host);
    hint.server_host = host;
    if hint.name.is_none() && hint.server_host.as_deref().is_some_and(is_aks_host) {
        hint.name = aks_name_guess(context, cluster);
    }
    hint
}

/// `aws eks update-kubeconfig` names the cluster (and by default the context) by its ARN:
/// arn:aws:eks:<region>:<account>:cluster/<name> (partition aws, aws-cn or aws-us-gov).
fn eks_arn(name: &str) -> Option<ClusterHint> {
    let mut parts = name.splitn(6, ':');
    let (arn, _partition, service) = (parts.next()?, parts.next()?, parts.next()?);
    let (region, account, resource) = (parts.next()?, parts.next()?, parts.next()?);
    let cluster = resource.strip_prefix("cluster/")?;
    let valid = arn == "arn"
        && service == "eks"
        && is_plain_word(region)
        && !account.is_empty()
        && account.chars().all(|c| c.is_ascii_digit())
        && is_plain_word(cluster);
    valid.then(|| ClusterHint {
        name: Some(HintPart::known(cluster)),
        region: Some(HintPart::known(region)),
        account: Some(HintPart::known(account)),
        server_host: None,
    })
}

/// eksctl names the cluster <name>.<region>.eksctl.io and the context
/// <user>@<name>.<region>.eksctl.io; EKS names cannot contain dots.
fn eksctl_name(name: &str) -> Option<ClusterHint> {
    let without_user = name.rsplit_once('@').map_or(name, |(_, rest)| rest);
    let (cluster, region) = without_user.strip_suffix(".eksctl.io")?.split_once('.')?;
    (is_plain_word(cluster) && is_plain_word(region)).then(|| ClusterHint {
        name: Some(HintPart::known(cluster)),
        region: Some(HintPart::known(region)),
        ..ClusterHint::default()
    })
}

/// `gcloud container clusters get-credentials` names both gke_<project>_<location>_<name>;
/// none of the three may contain an underscore.
fn gke_name(name: &str) -> Option<ClusterHint> {
    let rest = name.strip_prefix("gke_")?;
    let parts: Vec<&str> = rest.split('_').collect();
    let [project, location, cluster] = parts.as_slice() else {
        return None;
    };
    // Domain-scoped projects look like example.com:my-project.
    let project_ok = !project.is_empty()
        && project
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c));
    (project_ok && is_plain_word(location) && is_plain_word(cluster)).then(|| ClusterHint {
        name: Some(HintPart::known(cluster)),
        region: Some(HintPart::known(location)),
        account: Some(HintPart::known(project)),
        server_host: None,
    })
}

/// Regions are certain from the managed API servers' host names:
/// <id>.<shard>.<region>.eks.amazonaws.com (".com.cn" in China) and
/// <prefix>-<hash>.hcp.<region>.azmk8s.io (private: ....privatelink.<region>.azmk8s.io).
fn host_hint(host: &str) -> ClusterHint {
    let labels: Vec<&str> = host.split('.').collect();
    let region_before = |suffix: &[&str]| -> Option<HintPart> {
        let n = labels.len().checked_sub(suffix.len() + 1)?;
        (labels[n + 1..] == *suffix && n >= 1 && is_plain_word(labels[n]))
            .then(|| HintPart::known(labels[n]))
    };
    let region = region_before(&["eks", "amazonaws", "com"])
        .or_else(|| region_before(&["eks", "amazonaws", "com", "cn"]))
        .or_else(|| region_before(&["azmk8s", "io"]));
    ClusterHint {
        region,
        ..ClusterHint::default()
    }
}

fn is_aks_host(host: &str) -> bool {
    host.ends_with(".azmk8s.io")
}

/// `az aks get-credentials` names the kubeconfig cluster after the AKS cluster, and the
/// context too unless --context was given (or --admin, which appends "-admin"). So the
/// cluster entry is the better guess; either stays a guess.
fn aks_name_guess(context: &str, cluster: &str) -> Option<HintPart> {
    [cluster, context]
        .into_iter()
        .find(|name| is_aks_cluster_name(name))
        .map(HintPart::guess)
}

/// AKS names: 1 to 63 letters, digits, '-' and '_'.
fn is_aks_cluster_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Letters, digits, '-' and '_': what cluster names, regions and zones are made of, and
/// safe to put into a command line.
fn is_plain_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// "https://Example.com:443/path" -> "example.com".
fn server_host(server: &str) -> Option<String> {
    let rest = server.split_once("://").map_or(server, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host_port.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_from_eks_arn() {
        let arn = "arn:aws:eks:us-west-2:111122223333:cluster/prod-1";
        let hint = cluster_name_hint(
            arn,
            arn,
            "https://ABCDEF0123.gr7.us-west-2.eks.amazonaws.com",
        );
        assert_eq!(hint.name, Some(HintPart::known("prod-1")));
        assert_eq!(hint.region, Some(HintPart::known("us-west-2")));
        assert_eq!(hint.account, Some(HintPart::known("111122223333")));
        assert_eq!(
            hint.server_host.as_deref(),
            Some("abcdef0123.gr7.us-west-2.eks.amazonaws.com")
        );
    }

    #[test]
    fn hint_from_aliased_eks_context_uses_the_cluster_arn() {
        let hint = cluster_name_hint(
            "prod",
            "arn:aws-us-gov:eks:us-gov-west-1:111122223333:cluster/gov",
            "https://X.yl4.us-gov-west-1.eks.amazonaws.com",
        );
        assert_eq!(hint.name, Some(HintPart::known("gov")));
        assert_eq!(hint.region, Some(HintPart::known("us-gov-west-1")));
    }

    #[test]
    fn hint_from_eksctl_names() {
        let hint = cluster_name_hint(
            "alice@demo.eu-central-1.eksctl.io",
            "demo.eu-central-1.eksctl.io",
            "https://1234.gr7.eu-central-1.eks.amazonaws.com",
        );
        assert_eq!(hint.name, Some(HintPart::known("demo")));
        assert_eq!(hint.region, Some(HintPart::known("eu-central-1")));
        assert_eq!(hint.account, None);
    }

    #[test]
    fn eks_region_from_server_alone() {
        let hint = cluster_name_hint(
            "work",
            "work",
            "https://ABC.sk1.ap-south-1.eks.amazonaws.com:443",
        );
        assert_eq!(hint.name, None, "no EKS name can be read from 'work'");
        assert_eq!(hint.region, Some(HintPart::known("ap-south-1")));
    }

    #[test]
    fn hint_from_gke_context() {
        let hint = cluster_name_hint(
            "gke_my-proj_europe-west1-b_web",
            "gke_my-proj_europe-west1-b_web",
            "https://34.1.2.3",
        );
        assert_eq!(hint.name, Some(HintPart::known("web")));
        assert_eq!(hint.region, Some(HintPart::known("europe-west1-b")));
        assert_eq!(hint.account, Some(HintPart::known("my-proj")));
        assert_eq!(hint.server_host.as_deref(), Some("34.1.2.3"));
    }

    #[test]
    fn malformed_gke_context_reveals_nothing() {
        let hint = cluster_name_hint("gke_a_b_c_d", "gke_", "https://10.0.0.1");
        assert_eq!(hint.name, None);
        assert_eq!(hint.account, None);
    }

    #[test]
    fn aks_name_is_a_guess_and_region_comes_from_the_host() {
        let hint = cluster_name_hint(
            "aks-prod-admin",
            "aks-prod",
            "https://aks-prod-dns-1a2b3c4d.hcp.westeurope.azmk8s.io:443",
        );
        assert_eq!(hint.name, Some(HintPart::guess("aks-prod")));
        assert_eq!(hint.region, Some(HintPart::known("westeurope")));
        assert_eq!(
            hint.server_host.as_deref(),
            Some("aks-prod-dns-1a2b3c4d.hcp.westeurope.azmk8s.io")
        );
    }

    #[test]
    fn private_aks_host_gives_the_region() {
        let hint = cluster_name_hint(
            "c",
            "c",
            "https://c-1a2b.5e6f7a8b-1111-2222-3333-444455556666.privatelink.eastus2.azmk8s.io:443",
        );
        assert_eq!(hint.region, Some(HintPart::known("eastus2")));
        assert_eq!(hint.name, Some(HintPart::guess("c")));
    }

    #[test]
    fn unsafe_names_are_not_guessed() {
        let hint = cluster_name_hint("x; rm -rf ~", "y $(id)", "https://a-b.hcp.eastus.azmk8s.io");
        assert_eq!(hint.name, None);
    }

    #[test]
    fn non_cloud_names_reveal_nothing_but_the_host() {
        let hint = cluster_name_hint("kind-kind", "kind-kind", "https://127.0.0.1:6443");
        assert_eq!(
            hint,
            ClusterHint {
                server_host: Some("127.0.0.1".into()),
                ..ClusterHint::default()
            }
        );
        assert_eq!(server_host("https://[::1]:6443/").as_deref(), Some("::1"));
    }
}
