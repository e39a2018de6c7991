//! `rbac`: the exact RBAC a tripwire watcher (`watch --tripwire`) needs, as manifests for
//! `kubectl apply -f -`. Per decoy namespace a Role that may get, list, watch and patch
//! only the decoys' token Secrets and get, list and watch only the decoys' accounts (by
//! `resourceNames`, which also covers a list or watch that selects
//! `fieldSelector=metadata.name=<name>`), and a RoleBinding to the watcher's subject; with
//! `--bindings`, also the list of bindings that shows one granting a decoy something.
//!
//! The plan is a pure function of the decoys' names and the options; `run` only finds the
//! names (as `status` does, or from `--secret`) and prints. No token is ever read: the
//! Secrets' names are all it needs.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use kube::api::ObjectMeta;
use serde::Serialize;

use crate::cli::{GlobalArgs, OutputFormat, RbacArgs};
use crate::decoy::Decoy;
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::Home;
use crate::ui::output;

/// The watcher's default ServiceAccount, and the name of its Role, RoleBinding (and
/// ClusterRole and ClusterRoleBinding with `--bindings`). Anyone who can read RBAC or list
/// pods reads these names, so they say what the watcher does in words a cluster's own
/// tooling would use, never honeytoken, decoy or canary.
pub const DEFAULT_NAMESPACE: &str = "kube-system";
pub const DEFAULT_NAME: &str = "secret-label-sync";

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// One decoy the watcher watches: its token Secret and its account, in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Watched {
    pub namespace: String,
    pub secret: String,
    pub account: String,
}

/// `NAMESPACE/NAME` of a decoy's token Secret, read as `scan` and `watch` read it: its
/// account is the part of its name before `-token-`.
pub fn parse_secret(text: &str) -> Result<Watched, Error> {
    let secret = crate::cluster::sought::parse_secret(text)?;
    let decoy = Decoy::parse(&secret.user)?;
    Ok(Watched {
        namespace: secret.namespace,
        secret: secret.name,
        account: decoy.account,
    })
}

/// Who the watcher runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    ServiceAccount { namespace: String, name: String },
    User(String),
    Group(String),
}

impl Holder {
    /// `--service-account NAMESPACE/NAME`.
    pub fn service_account(text: &str) -> Result<Holder, Error> {
        let invalid = |why: &str| Error::Invalid(format!("--service-account {text:?}: {why}"));
        let (namespace, name) = text
            .split_once('/')
            .ok_or_else(|| invalid("give it as NAMESPACE/NAME"))?;
        Decoy::parse(&format!("system:serviceaccount:{namespace}:{name}")).map_err(|_| {
            invalid("the namespace must be a DNS label and the name a DNS subdomain")
        })?;
        Ok(Holder::ServiceAccount {
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }

    fn subject(&self) -> Subject {
        match self {
            Holder::ServiceAccount { namespace, name } => Subject {
                kind: "ServiceAccount".into(),
                name: name.clone(),
                namespace: Some(namespace.clone()),
                api_group: None,
            },
            Holder::User(name) => Subject {
                kind: "User".into(),
                name: name.clone(),
                namespace: None,
                api_group: Some(RBAC_GROUP.into()),
            },
            Holder::Group(name) => Subject {
                kind: "Group".into(),
                name: name.clone(),
                namespace: None,
                api_group: Some(RBAC_GROUP.into()),
            },
        }
    }

    /// How the holder is named in the output's comment.
    fn describe(&self) -> String {
        match self {
            Holder::ServiceAccount { namespace, name } => {
                format!("ServiceAccount {namespace}/{name}")
            }
            Holder::User(name) => format!("user {name}"),
            Holder::Group(name) => format!("group {name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub holder: Holder,
    /// The name of the Role and RoleBinding in each namespace (and of the cluster-wide
    /// pair with `bindings`).
    pub name: String,
    /// The watcher re-arms (removes the stamp): `patch` on the Secrets.
    pub rearm: bool,
    /// The watcher also looks for bindings that grant a decoy something: `list` of
    /// RoleBindings in the decoys' namespaces and of ClusterRoleBindings.
    pub bindings: bool,
}

/// The objects, in the order `kubectl apply` should make them.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Object {
    ServiceAccount(ServiceAccount),
    Role(Role),
    RoleBinding(RoleBinding),
    ClusterRole(ClusterRole),
    ClusterRoleBinding(ClusterRoleBinding),
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        ..Default::default()
    }
}

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    items.into_iter().map(str::to_string).collect()
}

/// The secrets verbs: what a metadata watch by name needs, and `patch` to re-arm.
pub fn secret_verbs(rearm: bool) -> Vec<String> {
    let mut verbs = strings(["get", "list", "watch"]);
    if rearm {
        verbs.push("patch".into());
    }
    verbs
}

/// The Role, RoleBinding (per namespace, sorted) and the rest, for these decoys.
pub fn plan(decoys: &[Watched], options: &Options) -> Vec<Object> {
    let mut by_namespace: BTreeMap<&str, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
    for decoy in decoys {
        let (secrets, accounts) = by_namespace.entry(&decoy.namespace).or_default();
        secrets.insert(&decoy.secret);
        accounts.insert(&decoy.account);
    }
    let mut objects = Vec::new();
    if let Holder::ServiceAccount { namespace, name } = &options.holder {
        objects.push(Object::ServiceAccount(ServiceAccount {
            metadata: meta(name, Some(namespace)),
            ..Default::default()
        }));
    }
    let role_ref = |kind: &str| RoleRef {
        api_group: Some(RBAC_GROUP.into()),
        kind: kind.into(),
        name: options.name.clone(),
    };
    for (namespace, (secrets, accounts)) in &by_namespace {
        let mut rules = vec![
            PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["secrets".into()]),
                resource_names: Some(strings(secrets.iter().copied())),
                verbs: secret_verbs(options.rearm),
                ..Default::default()
            },
            PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["serviceaccounts".into()]),
                resource_names: Some(strings(accounts.iter().copied())),
                verbs: strings(["get", "list", "watch"]),
                ..Default::default()
            },
        ];
        if options.bindings {
            rules.push(PolicyRule {
                api_groups: Some(vec![RBAC_GROUP.into()]),
                resources: Some(vec!["rolebindings".into()]),
                verbs: strings(["list"]),
                ..Default::default()
            });
        }
        objects.push(Object::Role(Role {
            metadata: meta(&options.name, Some(namespace)),
            rules: Some(rules),
        }));
        objects.push(Object::RoleBinding(RoleBinding {
            metadata: meta(&options.name, Some(namespace)),
            role_ref: role_ref("Role"),
            subjects: Some(vec![options.holder.subject()]),
        }));
    }
    if options.bindings {
        objects.push(Object::ClusterRole(ClusterRole {
            metadata: meta(&options.name, None),
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec![RBAC_GROUP.into()]),
                resources: Some(vec!["clusterrolebindings".into()]),
                verbs: strings(["list"]),
                ..Default::default()
            }]),
            aggregation_rule: None,
        }));
        objects.push(Object::ClusterRoleBinding(ClusterRoleBinding {
            metadata: meta(&options.name, None),
            role_ref: role_ref("ClusterRole"),
            subjects: Some(vec![options.holder.subject()]),
        }));
    }
    objects
}

/// The comment above the YAML: what it grants, to whom, and what it shows to readers of
/// RBAC. Comments are for the operator's terminal; `kubectl apply` ignores them.
pub fn header(decoys: &[Watched], options: &Options) -> String {
    let mut secrets: Vec<String> = decoys
        .iter()
        .map(|d| format!("{}/{}", d.namespace, d.secret))
        .collect();
    secrets.sort();
    secrets.dedup();
    let verbs = secret_verbs(options.rearm).join(", ");
    let mut text = format!(
        "# RBAC for {}: a watch of the metadata of these\n\
         # Secrets and of their accounts, by name:\n\
         #   {}\n\
         # Secrets: {verbs}, these names only{}.\n\
         # ServiceAccounts: get, list, watch, the accounts they belong to only.\n\
         # Nothing else: no other Secret, no list of all Secrets.\n",
        options.holder.describe(),
        secrets.join(", "),
        if options.rearm {
            " (patch removes the last-used label: re-arm)"
        } else {
            " (no patch: the watcher cannot re-arm; run it with --no-rearm)"
        },
    );
    if options.bindings {
        text.push_str(
            "# With --bindings: list of RoleBindings in these namespaces and of\n\
             # ClusterRoleBindings, which shows every binding's subjects to the watcher.\n",
        );
    }
    text.push_str(
        "# Anyone who can read Roles here reads these Secrets' names, and these object\n\
         # names; pick names (--role, --service-account) that fit your cluster.\n\
         # Apply with: kubectl apply -f -\n",
    );
    text
}

/// The watcher's decoys: those named by `--secret`, or those of this key the cluster holds.
async fn watched(args: &RbacArgs, global: &GlobalArgs, home: &Home) -> Result<Vec<Watched>, Error> {
    let mut looked_in = "the cluster".to_string();
    let mut decoys: Vec<Watched> = if args.secret.is_empty() {
        let observation = crate::cluster::locate::observe_all(
            &global.target(),
            global.namespace.as_deref(),
            home,
        )
        .await?;
        looked_in = crate::cluster::sought::where_looked(
            &observation.namespaces,
            global.namespace.is_some(),
        );
        observation
            .observed
            .into_iter()
            .map(|o| Watched {
                namespace: o.spec.namespace,
                secret: o.spec.secret,
                account: o.spec.account,
            })
            .collect()
    } else {
        args.secret
            .iter()
            .map(|s| parse_secret(s))
            .collect::<Result<_, _>>()?
    };
    decoys.sort();
    decoys.dedup();
    if decoys.is_empty() {
        return Err(Error::Invalid(format!(
            "no decoys to write RBAC for: none of this key in {looked_in}; name their token \
             Secrets with --secret NAMESPACE/NAME"
        )));
    }
    Ok(decoys)
}

/// The options as the command line gives them.
pub fn options(args: &RbacArgs) -> Result<Options, Error> {
    let holder = match (&args.service_account, &args.user, &args.group) {
        (_, Some(user), _) => Holder::User(user.clone()),
        (_, _, Some(group)) => Holder::Group(group.clone()),
        (Some(account), _, _) => Holder::service_account(account)?,
        (None, None, None) => Holder::ServiceAccount {
            namespace: DEFAULT_NAMESPACE.into(),
            name: DEFAULT_NAME.into(),
        },
    };
    let name = match (&args.role, &holder) {
        (Some(role), _) => role.clone(),
        (None, Holder::ServiceAccount { name, .. }) => name.clone(),
        (None, _) => DEFAULT_NAME.into(),
    };
    if Decoy::parse(&format!("system:serviceaccount:default:{name}")).is_err() {
        return Err(Error::Invalid(format!(
            "--role {name:?}: a Role's name must be a DNS subdomain (lowercase letters, digits, '-', '.')"
        )));
    }
    Ok(Options {
        holder,
        name,
        rearm: !args.no_rearm,
        bindings: args.bindings,
    })
}

/// The output: YAML documents under a comment (the default and `-o yaml`), or a `List`
/// with `-o json`.
pub fn render(
    decoys: &[Watched],
    options: &Options,
    format: OutputFormat,
) -> Result<String, Error> {
    let objects = plan(decoys, options);
    Ok(match format {
        OutputFormat::Json => {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
            output::json(&list, true)? + "\n"
        }
        OutputFormat::Table | OutputFormat::Wide | OutputFormat::Yaml => {
            header(decoys, options) + &output::yaml_documents(&objects)?
        }
    })
}

pub async fn run(args: &RbacArgs, global: &GlobalArgs, home: &Home) -> Result<Outcome, Error> {
    let options = options(args)?;
    let decoys = watched(args, global, home).await?;
    print!("{}", render(&decoys, &options, global.output)?);
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn decoy(namespace: &str, account: &str, suffix: &str) -> Watched {
        Watched {
            namespace: namespace.into(),
            secret: format!("{account}-token-{suffix}"),
            account: account.into(),
        }
    }

    fn default_options() -> Options {
        Options {
            holder: Holder::ServiceAccount {
                namespace: DEFAULT_NAMESPACE.into(),
                name: DEFAULT_NAME.into(),
            },
            name: DEFAULT_NAME.into(),
            rearm: true,
            bindings: false,
        }
    }

    fn values(objects: &[Object]) -> Vec<Value> {
        objects
            .iter()
            .map(|o| serde_json::to_value(o).unwrap())
            .collect()
    }

    #[test]
    fn a_secret_names_its_namespace_and_account() {
        assert_eq!(
            parse_secret("kube-system/tiller-token-bcdfg").unwrap(),
            decoy("kube-system", "tiller", "bcdfg")
        );
        assert_eq!(
            parse_secret("apps/helm.server-token-x2z45").unwrap(),
            decoy("apps", "helm.server", "x2z45")
        );
        for bad in [
            "tiller-token-bcdfg",
            "kube-system/tiller",
            "kube-system/-token-bcdfg",
            "Kube_System/tiller-token-bcdfg",
            "kube-system/tiller-token-bcdfgh",
            "kube-system/ab-token-x\u{e9}abc",
            "/tiller-token-bcdfg",
        ] {
            assert!(parse_secret(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_namespace_gets_a_role_limited_to_its_decoys_and_a_binding() {
        let decoys = [
            decoy("kube-system", "tiller", "bcdfg"),
            decoy("apps", "helm-server", "x2z45"),
            decoy("apps", "tiller", "qqqqq"),
        ];
        let objects = values(&plan(&decoys, &default_options()));
        let kinds: Vec<&str> = objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "Role",
                "RoleBinding"
            ]
        );
        assert_eq!(
            objects[0]["metadata"],
            json!({"name": "secret-label-sync", "namespace": "kube-system"})
        );
        let apps = &objects[1];
        assert_eq!(apps["apiVersion"], "rbac.authorization.k8s.io/v1");
        assert_eq!(
            apps["metadata"],
            json!({"name": "secret-label-sync", "namespace": "apps"})
        );
        assert_eq!(
            apps["rules"],
            json!([
                {"apiGroups": [""], "resources": ["secrets"],
                 "resourceNames": ["helm-server-token-x2z45", "tiller-token-qqqqq"],
                 "verbs": ["get", "list", "watch", "patch"]},
                {"apiGroups": [""], "resources": ["serviceaccounts"],
                 "resourceNames": ["helm-server", "tiller"],
                 "verbs": ["get", "list", "watch"]}
            ])
        );
        assert_eq!(
            objects[2]["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secret-label-sync"})
        );
        assert_eq!(
            objects[2]["subjects"],
            json!([{"kind": "ServiceAccount", "name": "secret-label-sync", "namespace": "kube-system"}])
        );
        assert_eq!(objects[3]["metadata"]["namespace"], "kube-system");
        assert_eq!(
            objects[3]["rules"][0]["resourceNames"],
            json!(["tiller-token-bcdfg"])
        );
        // Nothing grants anything beyond the decoys' own names.
        for role in objects.iter().filter(|o| o["kind"] == "Role") {
            for rule in role["rules"].as_array().unwrap() {
                assert!(
                    rule["resourceNames"]
                        .as_array()
                        .is_some_and(|n| !n.is_empty())
                );
                assert!(!rule["verbs"].as_array().unwrap().contains(&json!("*")));
            }
        }
    }

    #[test]
    fn without_rearm_there_is_no_patch_and_the_header_says_so() {
        let options = Options {
            rearm: false,
            ..default_options()
        };
        let decoys = [decoy("kube-system", "tiller", "bcdfg")];
        let objects = values(&plan(&decoys, &options));
        assert_eq!(
            objects[1]["rules"][0]["verbs"],
            json!(["get", "list", "watch"])
        );
        assert!(header(&decoys, &options).contains("--no-rearm"));
    }

    #[test]
    fn users_and_groups_are_bound_without_a_service_account() {
        let decoys = [decoy("kube-system", "tiller", "bcdfg")];
        for (holder, kind) in [
            (Holder::User("watcher".into()), "User"),
            (Holder::Group("watchers".into()), "Group"),
        ] {
            let options = Options {
                holder,
                ..default_options()
            };
            let objects = values(&plan(&decoys, &options));
            let kinds: Vec<&str> = objects
                .iter()
                .map(|o| o["kind"].as_str().unwrap())
                .collect();
            assert_eq!(kinds, ["Role", "RoleBinding"]);
            assert_eq!(objects[1]["subjects"][0]["kind"], kind);
            assert_eq!(
                objects[1]["subjects"][0]["apiGroup"],
                "rbac.authorization.k8s.io"
            );
        }
    }

    #[test]
    fn bindings_add_list_of_bindings_only() {
        let options = Options {
            bindings: true,
            ..default_options()
        };
        let objects = values(&plan(&[decoy("kube-system", "tiller", "bcdfg")], &options));
        let kinds: Vec<&str> = objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "ClusterRole",
                "ClusterRoleBinding"
            ]
        );
        assert_eq!(
            objects[1]["rules"][2],
            json!({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["list"]})
        );
        assert_eq!(
            objects[3]["rules"],
            json!([{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterrolebindings"], "verbs": ["list"]}])
        );
        assert_eq!(objects[4]["roleRef"]["kind"], "ClusterRole");
        assert!(objects[3]["metadata"].get("namespace").is_none());
    }

    #[test]
    fn the_output_never_says_what_the_watcher_is_for() {
        let decoys = [decoy("kube-system", "tiller", "bcdfg")];
        let options = Options {
            bindings: true,
            ..default_options()
        };
        for format in [OutputFormat::Yaml, OutputFormat::Json] {
            let text = render(&decoys, &options, format).unwrap().to_lowercase();
            for word in ["honeytoken", "decoy", "canary", "trap"] {
                assert!(!text.contains(word), "{word} in:\n{text}");
            }
        }
    }

    #[test]
    fn yaml_output_is_documents_that_read_back_as_the_plan() {
        let decoys = [decoy("kube-system", "tiller", "bcdfg")];
        let text = render(&decoys, &default_options(), OutputFormat::Yaml).unwrap();
        assert!(text.starts_with("# RBAC for ServiceAccount kube-system/secret-label-sync"));
        let read: Vec<Value> = text
            .split("---\n")
            .skip(1)
            .map(|doc| serde_saphyr::from_str(doc).unwrap())
            .collect();
        assert_eq!(read, values(&plan(&decoys, &default_options())));
        let json: Value =
            serde_json::from_str(&render(&decoys, &default_options(), OutputFormat::Json).unwrap())
                .unwrap();
        assert_eq!(json["kind"], "List");
        assert_eq!(json["items"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn the_holder_and_names_come_from_the_flags() {
        let args = |sa: Option<&str>, user: Option<&str>, role: Option<&str>| RbacArgs {
            secret: vec![],
            service_account: sa.map(String::from),
            user: user.map(String::from),
            group: None,
            role: role.map(String::from),
            no_rearm: false,
            bindings: false,
        };
        assert_eq!(options(&args(None, None, None)).unwrap(), default_options());
        let custom = options(&args(Some("ops/label-sync"), None, None)).unwrap();
        assert_eq!(
            custom.holder,
            Holder::ServiceAccount {
                namespace: "ops".into(),
                name: "label-sync".into()
            }
        );
        assert_eq!(custom.name, "label-sync");
        let user = options(&args(None, Some("alice"), Some("reader"))).unwrap();
        assert_eq!(user.holder, Holder::User("alice".into()));
        assert_eq!(user.name, "reader");
        assert!(options(&args(Some("no-slash"), None, None)).is_err());
        assert!(options(&args(None, None, Some("Bad_Name"))).is_err());
    }
}
