//! Which Kubernetes provider are we talking to? Decided from what low privileges can
//! see: the server version, node labels and provider IDs, kube-system pods. Pure: the
//! caller gathers the evidence. (What kubeconfig names reveal is read in `hint`.)
//!
//! Every decision carries its reasons, and everything that could not be seen is listed,
//! so a user can tell a firm answer from a guess.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Eks,
    Gke,
    Aks,
    K3s,
    Rke2,
    Kind,
    Kubeadm,
    Openshift,
    Unknown,
}

/// What low privileges let us see; each part may be unavailable (with the reason, e.g.
/// "forbidden: cannot list nodes").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// `gitVersion` from /version, e.g. "v1.30.2-eks-1234" or "v1.28.5+k3s1".
    pub server_git_version: Option<String>,
    pub nodes: Result<Vec<NodeFacts>, String>,
    pub kube_system_pods: Result<Vec<PodFacts>, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeFacts {
    pub name: String,
    pub provider_id: Option<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodFacts {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

impl NodeFacts {
    pub fn from_node(node: &Node) -> NodeFacts {
        NodeFacts {
            name: node.metadata.name.clone().unwrap_or_default(),
            provider_id: node.spec.as_ref().and_then(|spec| spec.provider_id.clone()),
            labels: node.metadata.labels.clone().unwrap_or_default(),
        }
    }
}

impl PodFacts {
    pub fn from_pod(pod: &Pod) -> PodFacts {
        PodFacts {
            name: pod.metadata.name.clone().unwrap_or_default(),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub provider: Provider,
    /// What pointed at the provider, or (for `Unknown`) what was and was not seen.
    pub reasons: Vec<String>,
    /// Evidence that could not be gathered, with the reason.
    pub unavailable: Vec<String>,
}

/// How much one observation says. Ordered: a stronger tier always wins over a weaker one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    /// Context only (e.g. "the nodes are EC2 instances"); never decides.
    Note,
    /// Kubeadm's static control-plane pods: many distributions have them, so they only
    /// decide when nothing more specific was seen.
    Fallback,
    /// Points at a provider but other setups can look the same.
    Suggestive,
    /// Only this provider produces it.
    Decisive,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Signal {
    provider: Provider,
    strength: Strength,
    reason: String,
}

/// When decisive signals disagree, the more specific answer wins: a distribution such as
/// OpenShift or RKE2 can run on any cloud, and RKE2 is built from k3s.
const PRECEDENCE: [Provider; 8] = [
    Provider::Openshift,
    Provider::Rke2,
    Provider::K3s,
    Provider::Kind,
    Provider::Eks,
    Provider::Gke,
    Provider::Aks,
    Provider::Kubeadm,
];

pub fn detect(evidence: &Evidence) -> Detection {
    let mut signals = Vec::new();
    let mut unavailable = Vec::new();
    match &evidence.server_git_version {
        Some(version) => signals.extend(version_signals(version)),
        None => unavailable.push("server version (/version): not available".to_string()),
    }
    match &evidence.nodes {
        Ok(nodes) => signals.extend(node_signals(nodes)),
        Err(reason) => unavailable.push(format!("nodes: {reason}")),
    }
    match &evidence.kube_system_pods {
        Ok(pods) => {
            let nodes = evidence.nodes.as_ref().ok().map(Vec::as_slice);
            signals.extend(static_apiserver_signal(pods, nodes));
        }
        Err(reason) => unavailable.push(format!("kube-system pods: {reason}")),
    }
    let (provider, reasons) = decide(&signals, evidence);
    Detection {
        provider,
        reasons,
        unavailable,
    }
}

fn decide(signals: &[Signal], evidence: &Evidence) -> (Provider, Vec<String>) {
    let Some(strongest) = signals
        .iter()
        .map(|s| s.strength)
        .filter(|&s| s > Strength::Note)
        .max()
    else {
        return (Provider::Unknown, unknown_reasons(signals, evidence));
    };
    let candidates: Vec<Provider> = signals
        .iter()
        .filter(|s| s.strength == strongest)
        .map(|s| s.provider)
        .collect();
    let chosen = PRECEDENCE
        .into_iter()
        .find(|p| candidates.contains(p))
        .unwrap_or(Provider::Unknown);
    let mut reasons: Vec<String> = signals
        .iter()
        .filter(|s| s.provider == chosen)
        .map(|s| s.reason.clone())
        .collect();
    reasons.extend(
        signals
            .iter()
            .filter(|s| s.provider != chosen && s.strength == strongest)
            .map(|s| format!("but also: {} (points at {:?})", s.reason, s.provider)),
    );
    (chosen, reasons)
}

/// Says what was seen, so "unknown" is never mistaken for "nothing was looked at".
fn unknown_reasons(signals: &[Signal], evidence: &Evidence) -> Vec<String> {
    let mut reasons: Vec<String> = signals.iter().map(|s| s.reason.clone()).collect();
    if let Some(version) = &evidence.server_git_version {
        reasons.push(format!(
            "server version {version} carries no distribution marker"
        ));
    }
    if let Ok(nodes) = &evidence.nodes {
        reasons.push(format!(
            "{} node(s) seen, none with a provider label or providerID this tool knows",
            nodes.len()
        ));
    }
    if evidence.kube_system_pods.is_ok() {
        reasons.push("no kubeadm-style kube-apiserver static pod in kube-system".to_string());
    }
    if reasons.is_empty() {
        reasons.push("nothing was visible to decide from".to_string());
    }
    reasons
}

fn version_signals(version: &str) -> Vec<Signal> {
    let marker = |provider, strength, what: &str| Signal {
        provider,
        strength,
        reason: format!("server version {version} {what}"),
    };
    let mut signals = Vec::new();
    // EKS builds are tagged like v1.30.2-eks-1552ad0.
    if version.contains("-eks-") {
        signals.push(marker(
            Provider::Eks,
            Strength::Decisive,
            "is an EKS build (-eks-)",
        ));
    }
    // GKE builds are tagged like v1.29.4-gke.1043002.
    if version.contains("-gke.") {
        signals.push(marker(
            Provider::Gke,
            Strength::Decisive,
            "is a GKE build (-gke.)",
        ));
    }
    // k3s and RKE2 put their release in the build metadata: v1.28.5+k3s1, v1.28.5+rke2r1.
    if version.contains("+k3s") {
        signals.push(marker(
            Provider::K3s,
            Strength::Decisive,
            "is a k3s build (+k3s)",
        ));
    }
    if version.contains("+rke2") {
        signals.push(marker(
            Provider::Rke2,
            Strength::Decisive,
            "is an RKE2 build (+rke2)",
        ));
    }
    // OpenShift's kube-apiserver reports a commit as build metadata (v1.27.6+f67aeb3);
    // other builds could too, so this only suggests.
    if is_commit_build_metadata(version) {
        signals.push(marker(
            Provider::Openshift,
            Strength::Suggestive,
            "has a commit as build metadata, as OpenShift's does",
        ));
    }
    signals
}

fn is_commit_build_metadata(version: &str) -> bool {
    version.split_once('+').is_some_and(|(_, meta)| {
        meta.len() >= 7
            && meta
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    })
}

/// One thing to look for on every node; matching nodes are counted into one signal.
struct NodeCheck {
    provider: Provider,
    strength: Strength,
    what: &'static str,
    matches: fn(&NodeFacts) -> bool,
}

fn has_label(node: &NodeFacts, key: &str) -> bool {
    node.labels.contains_key(key)
}

fn has_label_prefix(node: &NodeFacts, prefix: &str) -> bool {
    node.labels.keys().any(|key| key.starts_with(prefix))
}

fn label_is(node: &NodeFacts, key: &str, value: &str) -> bool {
    node.labels.get(key).is_some_and(|v| v == value)
}

fn provider_id_starts(node: &NodeFacts, prefix: &str) -> bool {
    node.provider_id
        .as_deref()
        .is_some_and(|id| id.starts_with(prefix))
}

const NODE_CHECKS: &[NodeCheck] = &[
    // Set by EKS managed node groups.
    NodeCheck {
        provider: Provider::Eks,
        strength: Strength::Decisive,
        what: "have label eks.amazonaws.com/nodegroup",
        matches: |n| has_label(n, "eks.amazonaws.com/nodegroup"),
    },
    // Set on Fargate and EKS Auto Mode nodes.
    NodeCheck {
        provider: Provider::Eks,
        strength: Strength::Decisive,
        what: "have label eks.amazonaws.com/compute-type",
        matches: |n| has_label(n, "eks.amazonaws.com/compute-type"),
    },
    // Set by eksctl on the node groups it creates (alpha.eksctl.io/cluster-name, ...).
    NodeCheck {
        provider: Provider::Eks,
        strength: Strength::Decisive,
        what: "have eksctl labels (alpha.eksctl.io/...)",
        matches: |n| has_label_prefix(n, "alpha.eksctl.io/"),
    },
    // GKE labels every node cloud.google.com/gke-nodepool, gke-os-distribution, ...
    NodeCheck {
        provider: Provider::Gke,
        strength: Strength::Decisive,
        what: "have GKE labels (cloud.google.com/gke-...)",
        matches: |n| has_label_prefix(n, "cloud.google.com/gke-"),
    },
    // AKS labels every node with its cluster's node resource group and its agent pool.
    NodeCheck {
        provider: Provider::Aks,
        strength: Strength::Decisive,
        what: "have AKS labels (kubernetes.azure.com/cluster or /agentpool)",
        matches: |n| {
            has_label(n, "kubernetes.azure.com/cluster")
                || has_label(n, "kubernetes.azure.com/agentpool")
        },
    },
    // Set by the machine-config daemon on RHCOS/RHEL nodes of OpenShift 4.
    NodeCheck {
        provider: Provider::Openshift,
        strength: Strength::Decisive,
        what: "have label node.openshift.io/os_id",
        matches: |n| has_label(n, "node.openshift.io/os_id"),
    },
    // k3s's embedded cloud provider sets the instance type, a k3s:// providerID and
    // k3s.io/hostname.
    NodeCheck {
        provider: Provider::K3s,
        strength: Strength::Decisive,
        what: "have label node.kubernetes.io/instance-type=k3s",
        matches: |n| label_is(n, "node.kubernetes.io/instance-type", "k3s"),
    },
    NodeCheck {
        provider: Provider::K3s,
        strength: Strength::Decisive,
        what: "have label k3s.io/hostname",
        matches: |n| has_label(n, "k3s.io/hostname"),
    },
    NodeCheck {
        provider: Provider::K3s,
        strength: Strength::Decisive,
        what: "have a k3s:// providerID",
        matches: |n| provider_id_starts(n, "k3s://"),
    },
    // RKE2 reuses k3s's cloud provider under its own name.
    NodeCheck {
        provider: Provider::Rke2,
        strength: Strength::Decisive,
        what: "have label node.kubernetes.io/instance-type=rke2",
        matches: |n| label_is(n, "node.kubernetes.io/instance-type", "rke2"),
    },
    NodeCheck {
        provider: Provider::Rke2,
        strength: Strength::Decisive,
        what: "have an rke2:// providerID",
        matches: |n| provider_id_starts(n, "rke2://"),
    },
    // kind sets kind://docker/<cluster>/<node> (kind://podman/... with podman).
    NodeCheck {
        provider: Provider::Kind,
        strength: Strength::Decisive,
        what: "have a kind:// providerID",
        matches: |n| provider_id_starts(n, "kind://"),
    },
    // The cloud a node runs on is not the provider: self-managed clusters on EC2, GCE or
    // Azure VMs have the same providerIDs, so these only add context.
    NodeCheck {
        provider: Provider::Eks,
        strength: Strength::Note,
        what: "are EC2 instances (providerID aws://), which alone does not mean EKS",
        matches: |n| provider_id_starts(n, "aws://"),
    },
    NodeCheck {
        provider: Provider::Gke,
        strength: Strength::Note,
        what: "are GCE instances (providerID gce://), which alone does not mean GKE",
        matches: |n| provider_id_starts(n, "gce://"),
    },
    NodeCheck {
        provider: Provider::Aks,
        strength: Strength::Note,
        what: "are Azure VMs (providerID azure://), which alone does not mean AKS",
        matches: |n| provider_id_starts(n, "azure://"),
    },
];

fn node_signals(nodes: &[NodeFacts]) -> Vec<Signal> {
    let mut signals: Vec<Signal> = NODE_CHECKS
        .iter()
        .filter_map(|check| {
            let matching: Vec<&NodeFacts> = nodes.iter().filter(|n| (check.matches)(n)).collect();
            let first = matching.first()?;
            Some(Signal {
                provider: check.provider,
                strength: check.strength,
                reason: format!(
                    "{} of {} node(s) {} (e.g. {})",
                    matching.len(),
                    nodes.len(),
                    check.what,
                    first.name
                ),
            })
        })
        .collect();
    signals.extend(kind_node_names(nodes));
    signals
}

/// kind names its nodes <cluster>-control-plane[N] and <cluster>-worker[N]. Anyone can
/// name hosts that way, so it only suggests kind.
fn kind_node_names(nodes: &[NodeFacts]) -> Option<Signal> {
    let control_plane = nodes
        .iter()
        .find(|n| has_role_suffix(&n.name, "-control-plane"))?;
    let all_match = nodes
        .iter()
        .all(|n| has_role_suffix(&n.name, "-control-plane") || has_role_suffix(&n.name, "-worker"));
    all_match.then(|| Signal {
        provider: Provider::Kind,
        strength: Strength::Suggestive,
        reason: format!(
            "node names follow kind's <cluster>-control-plane/-worker pattern (e.g. {})",
            control_plane.name
        ),
    })
}

/// True for "kind-worker" and "kind-worker2" with suffix "-worker".
fn has_role_suffix(name: &str, suffix: &str) -> bool {
    name.trim_end_matches(|c: char| c.is_ascii_digit())
        .strip_suffix(suffix)
        .is_some_and(|cluster| !cluster.is_empty())
}

/// kubeadm runs the API server as a static pod mirrored into kube-system as
/// kube-apiserver-<node>, labelled component=kube-apiserver and tier=control-plane.
fn static_apiserver_signal(pods: &[PodFacts], nodes: Option<&[NodeFacts]>) -> Option<Signal> {
    let pod = pods.iter().find(|pod| {
        pod.name
            .strip_prefix("kube-apiserver-")
            .is_some_and(|node| !node.is_empty())
            && pod
                .labels
                .get("component")
                .is_some_and(|v| v == "kube-apiserver")
            && pod.labels.get("tier").is_some_and(|v| v == "control-plane")
    })?;
    let node_name = &pod.name["kube-apiserver-".len()..];
    let on_known_node = nodes.is_some_and(|nodes| nodes.iter().any(|n| n.name == node_name));
    Some(Signal {
        provider: Provider::Kubeadm,
        strength: Strength::Fallback,
        reason: format!(
            "kube-system/{} is a kubeadm-style static pod (component=kube-apiserver, \
             tier=control-plane){}",
            pod.name,
            if on_known_node {
                format!(" of node {node_name}")
            } else {
                String::new()
            }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn node(name: &str, provider_id: Option<&str>, pairs: &[(&str, &str)]) -> NodeFacts {
        NodeFacts {
            name: name.to_string(),
            provider_id: provider_id.map(str::to_string),
            labels: labels(pairs),
        }
    }

    fn pod(name: &str, pairs: &[(&str, &str)]) -> PodFacts {
        PodFacts {
            name: name.to_string(),
            labels: labels(pairs),
        }
    }

    fn evidence(version: Option<&str>, nodes: Vec<NodeFacts>, pods: Vec<PodFacts>) -> Evidence {
        Evidence {
            server_git_version: version.map(str::to_string),
            nodes: Ok(nodes),
            kube_system_pods: Ok(pods),
        }
    }

    fn kubeadm_apiserver(node: &str) -> PodFacts {
        pod(
            &format!("kube-apiserver-{node}"),
            &[("component", "kube-apiserver"), ("tier", "control-plane")],
        )
    }

    fn reasons_mention(detection: &Detection, text: &str) -> bool {
        detection.reasons.iter().any(|r| r.contains(text))
    }

    #[test]
    fn eks_from_version_marker() {
        let d = detect(&evidence(Some("v1.30.2-eks-1552ad0"), vec![], vec![]));
        assert_eq!(d.provider, Provider::Eks);
        assert!(reasons_mention(&d, "-eks-"), "{:?}", d.reasons);
        assert!(d.unavailable.is_empty());
    }

    #[test]
    fn eks_from_nodegroup_label_even_when_version_is_hidden() {
        let nodes = vec![node(
            "ip-10-0-1-20.us-west-2.compute.internal",
            Some("aws:///us-west-2a/i-0abc"),
            &[("eks.amazonaws.com/nodegroup", "default")],
        )];
        let d = detect(&evidence(None, nodes, vec![]));
        assert_eq!(d.provider, Provider::Eks);
        assert!(reasons_mention(&d, "eks.amazonaws.com/nodegroup"));
        assert!(
            reasons_mention(&d, "EC2"),
            "the aws:// providerID supports it: {:?}",
            d.reasons
        );
        assert_eq!(
            d.unavailable,
            vec!["server version (/version): not available"]
        );
    }

    #[test]
    fn eks_from_eksctl_labels() {
        let nodes = vec![node(
            "n1",
            None,
            &[("alpha.eksctl.io/cluster-name", "prod")],
        )];
        assert_eq!(
            detect(&evidence(None, nodes, vec![])).provider,
            Provider::Eks
        );
    }

    #[test]
    fn plain_ec2_nodes_are_not_eks() {
        let nodes = vec![node("ip-10-0-1-20", Some("aws:///us-west-2a/i-0abc"), &[])];
        let d = detect(&evidence(Some("v1.30.2"), nodes, vec![]));
        assert_eq!(d.provider, Provider::Unknown);
        assert!(reasons_mention(&d, "does not mean EKS"), "{:?}", d.reasons);
    }

    #[test]
    fn self_managed_kubeadm_on_ec2_is_kubeadm() {
        let nodes = vec![node("cp1", Some("aws:///us-west-2a/i-0abc"), &[])];
        let d = detect(&evidence(
            Some("v1.30.2"),
            nodes,
            vec![kubeadm_apiserver("cp1")],
        ));
        assert_eq!(d.provider, Provider::Kubeadm);
        assert!(reasons_mention(&d, "kube-system/kube-apiserver-cp1"));
        assert!(reasons_mention(&d, "of node cp1"));
    }

    #[test]
    fn gke_from_nodepool_label_and_gce_provider_id() {
        let nodes = vec![node(
            "gke-prod-default-pool-1234",
            Some("gce://my-project/us-central1-a/gke-prod-default-pool-1234"),
            &[("cloud.google.com/gke-nodepool", "default-pool")],
        )];
        let d = detect(&evidence(None, nodes, vec![]));
        assert_eq!(d.provider, Provider::Gke);
        assert!(reasons_mention(&d, "GKE labels"));
    }

    #[test]
    fn gke_from_version_marker() {
        let d = detect(&evidence(Some("v1.29.4-gke.1043002"), vec![], vec![]));
        assert_eq!(d.provider, Provider::Gke);
    }

    #[test]
    fn gce_nodes_without_gke_labels_are_not_gke() {
        let nodes = vec![node("vm-1", Some("gce://p/us-central1-a/vm-1"), &[])];
        assert_eq!(
            detect(&evidence(Some("v1.30.0"), nodes, vec![])).provider,
            Provider::Unknown
        );
    }

    #[test]
    fn aks_from_agentpool_label() {
        let nodes = vec![node(
            "aks-nodepool1-12345678-vmss000000",
            Some(
                "azure:///subscriptions/s/resourceGroups/mc_rg_aks_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/0",
            ),
            &[
                ("kubernetes.azure.com/agentpool", "nodepool1"),
                ("kubernetes.azure.com/cluster", "MC_rg_aks_eastus"),
            ],
        )];
        let d = detect(&evidence(Some("v1.29.2"), nodes, vec![]));
        assert_eq!(d.provider, Provider::Aks);
    }

    #[test]
    fn k3s_from_version_and_labels() {
        let d = detect(&evidence(Some("v1.28.5+k3s1"), vec![], vec![]));
        assert_eq!(d.provider, Provider::K3s);
        let nodes = vec![node(
            "pi",
            Some("k3s://pi"),
            &[
                ("node.kubernetes.io/instance-type", "k3s"),
                ("k3s.io/hostname", "pi"),
            ],
        )];
        let d = detect(&evidence(None, nodes, vec![]));
        assert_eq!(d.provider, Provider::K3s);
        assert_eq!(d.reasons.len(), 3, "{:?}", d.reasons);
    }

    #[test]
    fn rke2_wins_over_its_k3s_heritage_and_its_static_pods() {
        let nodes = vec![node("rke-1", None, &[("k3s.io/hostname", "rke-1")])];
        let d = detect(&evidence(
            Some("v1.28.5+rke2r1"),
            nodes,
            vec![kubeadm_apiserver("rke-1")],
        ));
        assert_eq!(d.provider, Provider::Rke2);
        assert!(reasons_mention(&d, "+rke2"));
        assert!(
            reasons_mention(&d, "but also"),
            "the k3s label is reported: {:?}",
            d.reasons
        );
    }

    #[test]
    fn kind_from_provider_id() {
        let nodes = vec![node(
            "dev-control-plane",
            Some("kind://docker/dev/dev-control-plane"),
            &[],
        )];
        let pods = vec![kubeadm_apiserver("dev-control-plane")];
        let d = detect(&evidence(Some("v1.31.0"), nodes, pods));
        assert_eq!(d.provider, Provider::Kind);
        assert!(reasons_mention(&d, "kind://"));
    }

    #[test]
    fn kind_node_names_beat_the_kubeadm_fallback() {
        let nodes = vec![
            node("kind-control-plane", None, &[]),
            node("kind-worker", None, &[]),
            node("kind-worker2", None, &[]),
        ];
        let d = detect(&evidence(
            Some("v1.27.3"),
            nodes,
            vec![kubeadm_apiserver("kind-control-plane")],
        ));
        assert_eq!(d.provider, Provider::Kind);
        assert!(reasons_mention(&d, "kind-control-plane"));
    }

    #[test]
    fn mixed_node_names_are_not_kind() {
        let nodes = vec![
            node("kind-control-plane", None, &[]),
            node("db-host", None, &[]),
        ];
        assert_eq!(
            detect(&evidence(None, nodes, vec![])).provider,
            Provider::Unknown
        );
    }

    #[test]
    fn openshift_from_node_label() {
        let nodes = vec![node(
            "master-0",
            Some("aws:///us-east-1a/i-0abc"),
            &[("node.openshift.io/os_id", "rhcos")],
        )];
        let d = detect(&evidence(Some("v1.27.6+f67aeb3"), nodes, vec![]));
        assert_eq!(d.provider, Provider::Openshift);
        assert!(reasons_mention(&d, "node.openshift.io/os_id"));
    }

    #[test]
    fn openshift_version_alone_only_suggests_but_still_decides() {
        let d = detect(&evidence(Some("v1.27.6+f67aeb3"), vec![], vec![]));
        assert_eq!(d.provider, Provider::Openshift);
        assert!(!is_commit_build_metadata("v1.28.5+k3s1"));
        assert!(!is_commit_build_metadata("v1.30.0"));
    }

    #[test]
    fn apiserver_pod_without_kubeadm_labels_is_not_kubeadm() {
        let pods = vec![pod(
            "kube-apiserver-cp1",
            &[("component", "kube-apiserver")],
        )];
        assert_eq!(
            detect(&evidence(Some("v1.30.0"), vec![], pods)).provider,
            Provider::Unknown
        );
    }

    #[test]
    fn forbidden_lists_become_unavailable_and_unknown_says_what_was_seen() {
        let e = Evidence {
            server_git_version: Some("v1.30.1".to_string()),
            nodes: Err("forbidden: cannot list nodes".to_string()),
            kube_system_pods: Err("forbidden: cannot list pods in kube-system".to_string()),
        };
        let d = detect(&e);
        assert_eq!(d.provider, Provider::Unknown);
        assert_eq!(
            d.unavailable,
            vec![
                "nodes: forbidden: cannot list nodes",
                "kube-system pods: forbidden: cannot list pods in kube-system"
            ]
        );
        assert_eq!(
            d.reasons,
            vec!["server version v1.30.1 carries no distribution marker"]
        );
    }

    #[test]
    fn nothing_visible_is_unknown_with_a_reason() {
        let e = Evidence {
            server_git_version: None,
            nodes: Err("forbidden".to_string()),
            kube_system_pods: Err("forbidden".to_string()),
        };
        let d = detect(&e);
        assert_eq!(d.provider, Provider::Unknown);
        assert_eq!(d.reasons, vec!["nothing was visible to decide from"]);
        assert_eq!(d.unavailable.len(), 3);
    }

    #[test]
    fn facts_from_api_objects() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "labels": {"a": "b"}},
            "spec": {"providerID": "kind://docker/kind/n1"}
        }))
        .unwrap();
        assert_eq!(
            NodeFacts::from_node(&node),
            NodeFacts {
                name: "n1".into(),
                provider_id: Some("kind://docker/kind/n1".into()),
                labels: labels(&[("a", "b")])
            }
        );
        let pod_object: Pod = serde_json::from_value(
            serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}),
        )
        .unwrap();
        assert_eq!(PodFacts::from_pod(&pod_object), pod("p", &[]));
    }

    #[test]
    fn provider_serializes_lowercase() {
        assert_eq!(
            serde_json::to_string(&Provider::Openshift).unwrap(),
            "\"openshift\""
        );
        assert_eq!(serde_json::to_string(&Provider::Rke2).unwrap(), "\"rke2\"");
    }
}
