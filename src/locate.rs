//! Finding the one decoy a command line names: its profile, namespace and account, and
//! what the cluster holds under its names.

use crate::cli::{GlobalArgs, SelectArgs};
use crate::cluster;
use crate::connect::{self, Connection};
use crate::decoy::{DecoySpec, Found};
use crate::error::Error;
use crate::home::{Home, HomeError, Key};
use crate::profile::{self, Profile};

/// `--profile`, or the default profile when none is named.
pub fn profile_named(name: Option<&str>) -> Result<&'static Profile, Error> {
    match name {
        None => Ok(&profile::TILLER),
        Some(name) => profile::find(name).ok_or_else(|| {
            Error::Invalid(format!(
                "unknown profile {name:?}; profiles: {}",
                profile::PROFILES
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }),
    }
}

#[derive(Debug, Clone)]
pub struct Selection {
    pub profile: &'static Profile,
    pub namespace: String,
    pub account: String,
}

/// The decoy named by `--profile`, `-n` and `--name`, with the profile's defaults.
pub fn select(args: &SelectArgs, global: &GlobalArgs) -> Result<Selection, Error> {
    let profile = profile_named(args.profile.as_deref())?;
    Ok(Selection {
        profile,
        namespace: global
            .namespace
            .clone()
            .unwrap_or_else(|| profile.default_namespace.to_string()),
        account: args
            .name
            .clone()
            .unwrap_or_else(|| profile.default_account.to_string()),
    })
}

pub struct Located {
    pub connection: Connection,
    pub spec: DecoySpec,
    pub found: Found,
    /// The account UID this workstation recorded when it planted this decoy, if it did.
    pub recorded_account_uid: Option<String>,
}

/// Connects, then looks the selected decoy up by its computed names. `key` is how the key
/// is had: read (status, remove, test-trigger) or made on first use (plant).
pub async fn locate(
    selection: &Selection,
    global: &GlobalArgs,
    home: &Home,
    key: impl FnOnce(&Home) -> Result<Key, HomeError>,
) -> Result<Located, Error> {
    let connection = connect::connect(global).await?;
    let client = &connection.client;
    let namespace_uid = cluster::namespace_uid(client, &selection.namespace).await?;
    let key = key(home)?;
    let spec = DecoySpec::new(
        selection.profile,
        &key,
        &namespace_uid,
        &selection.namespace,
        &selection.account,
    );
    let found = cluster::find(client, &spec).await?;
    let recorded_account_uid = home
        .load()?
        .recorded_account_uid(&connection.server, &spec.namespace, &spec.account)
        .map(String::from);
    Ok(Located {
        connection,
        spec,
        found,
        recorded_account_uid,
    })
}
