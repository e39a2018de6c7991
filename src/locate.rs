//! Finding the one decoy a command line names: its profile, namespace and account, and
//! what the cluster holds under its names.

use crate::cli::{GlobalArgs, SelectArgs};
use crate::cluster;
use crate::connect::{self, Connection};
use crate::decoy::{DecoySpec, Found};
use crate::error::Error;
use crate::home::{Home, PlantedRecord};
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
    /// What this workstation recorded when it planted this decoy, if it did.
    pub record: Option<PlantedRecord>,
    /// The key was made for this run and not saved (no key yet, and the command only
    /// looks): the Secret's name is what a first real `plant` would make it.
    pub ephemeral_key: bool,
}

/// How a command has the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Read it; no key is an error (status, remove, test-trigger).
    Existing,
    /// Read it, or make one for this run only and save nothing (plant --dry-run, verify).
    ExistingOrEphemeral,
    /// Read it, or make and save one (a real plant).
    Create,
}

/// Connects, then looks the selected decoy up by its computed names.
pub async fn locate(
    selection: &Selection,
    global: &GlobalArgs,
    home: &Home,
    key_use: KeyUse,
) -> Result<Located, Error> {
    let connection = connect::connect(global).await?;
    let client = &connection.client;
    let namespace_uid = cluster::namespace_uid(client, &selection.namespace).await?;
    let (key, ephemeral_key) = match key_use {
        KeyUse::Existing => (home.key()?, false),
        KeyUse::ExistingOrEphemeral => home.key_or_ephemeral()?,
        KeyUse::Create => (home.key_or_create()?, false),
    };
    let spec = DecoySpec::new(
        selection.profile,
        &key,
        &namespace_uid,
        &selection.namespace,
        &selection.account,
    );
    let found = cluster::find(client, &spec).await?;
    let record = home
        .load()?
        .planted_record(&connection.server, &spec.namespace, &spec.account)
        .cloned();
    Ok(Located {
        connection,
        spec,
        found,
        record,
        ephemeral_key,
    })
}
