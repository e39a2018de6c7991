//! EKS: the control-plane log type `audit`, checked with `aws eks describe-cluster` and
//! turned on with `aws eks update-cluster-config`; a drill's events read back from
//! CloudWatch Logs with `aws logs filter-log-events`.

use serde::Deserialize;
use serde_json::Value;

use super::logs::{LogQuery, QueryError, run_query, unexpected_output};
use super::runner::{CliRunner, command_line, strings};
use super::{
    CLUSTER, CheckOutcome, ClusterHint, FetchError, Finding, ParseError, Step, guess_note, judge,
    known, run_cli, value_or,
};
use crate::audit::Event;

pub(super) const AWS: &str = "aws";
const REGION: &str = "<REGION>";
const AUDIT_ON: &str = r#"{"clusterLogging":[{"types":["audit"],"enabled":true}]}"#;

pub(super) const REQUIREMENT: &str = "the EKS control-plane log type `audit` must be enabled \
     (events go to CloudWatch Logs group /aws/eks/<cluster>/cluster, streams \
     kube-apiserver-audit-*)";

pub(super) fn check_command(hint: &ClusterHint) -> String {
    let name = value_or(&hint.name, CLUSTER);
    let region = value_or(&hint.region, REGION);
    command_line(AWS, &check_args(&name, &region)) + &guess_note(hint)
}

pub(super) fn fix_command(hint: &ClusterHint) -> String {
    let name = value_or(&hint.name, CLUSTER);
    let region = value_or(&hint.region, REGION);
    command_line(AWS, &fix_args(&name, &region)) + &guess_note(hint)
}

fn check_args(name: &str, region: &str) -> Vec<String> {
    strings(&[
        "eks",
        "describe-cluster",
        "--name",
        name,
        "--region",
        region,
        "--query",
        "cluster.logging",
        "--output",
        "json",
    ])
}

fn fix_args(name: &str, region: &str) -> Vec<String> {
    strings(&[
        "eks",
        "update-cluster-config",
        "--name",
        name,
        "--region",
        region,
        "--logging",
        AUDIT_ON,
    ])
}

pub(super) fn check_setting(hint: &ClusterHint, runner: &CliRunner) -> Step<CheckOutcome> {
    let name = known(
        &hint.name,
        "the EKS cluster name (neither kubeconfig name is an EKS ARN or an eksctl name)",
    )?;
    let region = known(&hint.region, "the AWS region")?;
    let args = check_args(name, region);
    let stdout = run_cli(runner, AWS, &args)?;
    Ok(judge(command_line(AWS, &args), parse_eks_logging(&stdout)))
}

#[derive(Debug, Deserialize)]
struct EksLogging {
    #[serde(rename = "clusterLogging")]
    cluster_logging: Vec<EksLogSetup>,
}

#[derive(Debug, Deserialize)]
struct EksLogSetup {
    #[serde(default)]
    types: Vec<String>,
    /// Absent counts as off: only an explicit true is evidence.
    #[serde(default)]
    enabled: bool,
}

/// Reads `cluster.logging` from `aws eks describe-cluster`, given either the
/// `--query cluster.logging` output ({"clusterLogging": [...]}) or the whole document.
pub fn parse_eks_logging(json: &str) -> Result<Finding, ParseError> {
    let document = ParseError::json(json)?;
    let logging = match document.get("cluster") {
        Some(cluster) => cluster.get("logging").cloned().unwrap_or(Value::Null),
        None => document,
    };
    let logging: EksLogging = serde_json::from_value(logging)
        .map_err(ParseError::shape("no cluster.logging.clusterLogging list"))?;
    let mut on: Vec<&str> = logging
        .cluster_logging
        .iter()
        .filter(|setup| setup.enabled)
        .flat_map(|setup| setup.types.iter().map(String::as_str))
        .collect();
    on.sort_unstable();
    on.dedup();
    let enabled = on.contains(&"audit");
    let listed = if on.is_empty() {
        "none".to_string()
    } else {
        on.join(", ")
    };
    Ok(Finding {
        enabled,
        evidence: format!(
            "control-plane log type audit is {} (enabled types: {listed})",
            if enabled { "enabled" } else { "not enabled" }
        ),
    })
}

/// aws auto-paginates a first call by itself, so a nextToken is rare; a few pages bound
/// one poll, and the next poll starts again from `since`.
pub(super) const MAX_PAGES: usize = 5;

/// The `aws logs filter-log-events` arguments that find the decoy user's events.
pub(super) fn log_query_args(query: &LogQuery) -> Result<Vec<String>, QueryError> {
    let name = query.hint.name.as_ref().ok_or(QueryError::Missing(
        "the EKS cluster name is not known (neither kubeconfig name is an EKS ARN or an \
         eksctl name), and it names the log group /aws/eks/<name>/cluster",
    ))?;
    let mut args = strings(&[
        "logs",
        "filter-log-events",
        "--log-group-name",
        &format!("/aws/eks/{}/cluster", name.value),
        "--log-stream-name-prefix",
        "kube-apiserver-audit",
        "--start-time",
        &query.since.as_millisecond().to_string(),
        "--filter-pattern",
        &format!(r#"{{ $.user.username = "{}" }}"#, query.username),
    ]);
    // Without --region the CLI's configured default applies.
    if let Some(region) = &query.hint.region {
        args.extend(strings(&["--region", &region.value]));
    }
    args.extend(strings(&["--output", "json"]));
    Ok(args)
}

/// Follows nextToken for up to [`MAX_PAGES`] pages.
pub(super) fn fetch_log_events(
    runner: &CliRunner,
    first: &[String],
) -> Result<Vec<Event>, FetchError> {
    let mut events = Vec::new();
    let mut args = first.to_vec();
    for _ in 0..MAX_PAGES {
        let stdout = run_query(runner, AWS, &args)?;
        let page = parse_eks_log_events(&stdout).map_err(unexpected_output(AWS, &args))?;
        events.extend(page.events);
        let Some(token) = page.next_token else { break };
        // An explicit --next-token also turns the CLI's own pagination off: one page a call.
        args = first.to_vec();
        args.extend(["--next-token".to_string(), token]);
    }
    Ok(events)
}

/// One page of `aws logs filter-log-events --output json`.
#[derive(Debug, Clone, PartialEq)]
pub struct EksLogPage {
    pub events: Vec<Event>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FilteredLogEvents {
    events: Vec<FilteredLogEvent>,
    #[serde(default, rename = "nextToken")]
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FilteredLogEvent {
    #[serde(default)]
    message: String,
}

/// Reads a page of CloudWatch Logs events whose messages are Kubernetes audit events.
/// A message that is not one is skipped; a page where none is, is an error, since the
/// log group then holds something else.
pub fn parse_eks_log_events(json: &str) -> Result<EksLogPage, ParseError> {
    let page: FilteredLogEvents =
        serde_json::from_str(json).map_err(ParseError::shape("not a filter-log-events result"))?;
    let mut events = Vec::new();
    let mut first_error = None;
    for event in &page.events {
        match serde_json::from_str::<Event>(&event.message) {
            Ok(audit_event) => events.push(audit_event),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if events.is_empty()
        && let Some(source) = first_error
    {
        return Err(ParseError::NoAuditEvents {
            messages: page.events.len(),
            source,
        });
    }
    Ok(EksLogPage {
        events,
        next_token: page.next_token.filter(|t| !t.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::testing::*;
    use crate::cloud::{Provider, RunError, check_command, fix_command, run_check};

    const EKS_DISABLED: &str = include_str!("../../tests/fixtures/cloud/eks-logging-disabled.json");
    const EKS_FULL: &str =
        include_str!("../../tests/fixtures/cloud/eks-describe-cluster-audit-enabled.json");
    const EKS_LOG_EVENTS: &str =
        include_str!("../../tests/fixtures/cloud/eks-filter-log-events.json");
    const EKS_LOG_FIRST_PAGE: &str =
        include_str!("../../tests/fixtures/cloud/eks-filter-log-events-first-page.json");
    /// The first page's nextToken in EKS_LOG_FIRST_PAGE.
    const EKS_NEXT_TOKEN: &str = "Bxkq6kVGFtq2y_MoigeqscPOdhXVbhiVtLoAmXb5jCrI7fXHTRhp5g8SJUuxMkpH9SGF1VoMpOsPE1vuo3Q5fM7VSs4gJr3zYFOTwVUh4rpfkb8lxpETX9Y3u0YcfENnrNyJqOBmUN4gvNXW6i1t2w1dKSE2Lzlwp1KT58yW8bWJyYx1Z5n";

    // Written out rather than built, so a change in what the code builds fails a test.
    // `since` is 2026-11-28T09:59:00.75Z.
    const EKS_LOG_ARGV: &[&str] = &[
        "logs",
        "filter-log-events",
        "--log-group-name",
        "/aws/eks/prod-1/cluster",
        "--log-stream-name-prefix",
        "kube-apiserver-audit",
        "--start-time",
        "1795859940750",
        "--filter-pattern",
        r#"{ $.user.username = "system:serviceaccount:kube-system:tiller" }"#,
        "--region",
        "us-west-2",
        "--output",
        "json",
    ];

    // --- parsers, on output in the shape the CLIs print ---

    #[test]
    fn eks_query_output_with_audit_enabled() {
        let finding = parse_eks_logging(EKS_ENABLED).unwrap();
        assert_eq!(
            finding,
            Finding {
                enabled: true,
                evidence: "control-plane log type audit is enabled (enabled types: api, audit)"
                    .into()
            }
        );
    }

    #[test]
    fn eks_query_output_with_everything_disabled() {
        let finding = parse_eks_logging(EKS_DISABLED).unwrap();
        assert!(!finding.enabled);
        assert_eq!(
            finding.evidence,
            "control-plane log type audit is not enabled (enabled types: none)"
        );
    }

    #[test]
    fn eks_whole_describe_cluster_document_is_read_too() {
        let finding = parse_eks_logging(EKS_FULL).unwrap();
        assert!(finding.enabled);
        assert!(
            finding.evidence.contains("enabled types: audit)"),
            "{}",
            finding.evidence
        );
    }

    #[test]
    fn eks_audit_in_a_disabled_entry_does_not_count() {
        let json = r#"{"clusterLogging":[{"types":["api"],"enabled":true},{"types":["audit"],"enabled":false}]}"#;
        assert!(!parse_eks_logging(json).unwrap().enabled);
    }

    #[test]
    fn eks_output_without_logging_is_an_error() {
        assert!(parse_eks_logging("null").is_err());
        assert!(parse_eks_logging(r#"{"cluster": {"name": "x"}}"#).is_err());
        assert!(parse_eks_logging("An error occurred").is_err());
    }

    #[test]
    fn unreadable_output_keeps_the_json_error_as_its_cause() {
        use std::error::Error as _;
        let error = parse_eks_logging(r#"{"cluster": {"name": "x"}}"#).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("no cluster.logging.clusterLogging list: "),
            "{error}"
        );
        let cause = error
            .source()
            .and_then(|c| c.downcast_ref::<serde_json::Error>());
        assert!(cause.is_some_and(serde_json::Error::is_data), "{error:?}");
        let error = parse_eks_log_events(r#"{"events":[{"message":"START"}]}"#).unwrap_err();
        assert!(
            matches!(&error, ParseError::NoAuditEvents { messages: 1, .. }),
            "{error:?}"
        );
        assert!(error.source().is_some());
    }

    // --- commands ---

    #[test]
    fn eks_commands_with_known_names() {
        assert_eq!(
            check_command(Provider::Eks, &eks_hint()),
            "aws eks describe-cluster --name prod-1 --region us-west-2 --query cluster.logging --output json"
        );
        assert_eq!(
            fix_command(Provider::Eks, &eks_hint()),
            r#"aws eks update-cluster-config --name prod-1 --region us-west-2 --logging '{"clusterLogging":[{"types":["audit"],"enabled":true}]}'"#
        );
    }

    #[test]
    fn eks_commands_with_placeholders() {
        let hint = ClusterHint {
            region: known_part("eu-west-1"),
            ..ClusterHint::default()
        };
        assert_eq!(
            check_command(Provider::Eks, &hint),
            "aws eks describe-cluster --name <CLUSTER> --region eu-west-1 --query cluster.logging --output json"
        );
        assert!(
            fix_command(Provider::Eks, &ClusterHint::default()).starts_with(
                "aws eks update-cluster-config --name <CLUSTER> --region <REGION> --logging"
            )
        );
    }

    // --- reading a drill's events back ---

    #[test]
    fn eks_log_messages_convert_to_the_audit_events_they_hold() {
        let page = parse_eks_log_events(EKS_LOG_EVENTS).unwrap();
        assert_eq!(page.next_token, None);
        assert_eq!(
            page.events.iter().map(seen).collect::<Vec<_>>(),
            vec![
                (
                    "list",
                    "/api/v1/namespaces/kube-system/secrets",
                    TILLER,
                    DRILL_UA,
                    Some(403)
                ),
                (
                    "list",
                    "/api/v1/namespaces/kube-system/pods?limit=500",
                    TILLER,
                    KUBECTL_UA,
                    Some(403)
                ),
            ]
        );
        let drill = &page.events[0];
        assert_eq!(drill.audit_id, "7e3f9a1c-2b4d-4c6e-8f0a-1b2c3d4e5f60");
        assert_eq!(drill.stage, "ResponseComplete");
        assert_eq!(drill.source_ips, vec!["203.0.113.24"]);
        assert_eq!(
            drill.request_received_timestamp,
            at("2026-11-28T10:00:01.512345Z")
        );
        assert!(matches_drill(drill, LIST_SECRETS));
        assert!(!matches_drill(&page.events[1], LIST_SECRETS));
    }

    #[test]
    fn eks_first_page_carries_the_next_token() {
        let page = parse_eks_log_events(EKS_LOG_FIRST_PAGE).unwrap();
        assert_eq!(page.next_token.as_deref(), Some(EKS_NEXT_TOKEN));
        assert_eq!(page.events.len(), 1);
        assert_eq!(
            seen(&page.events[0]),
            ("get", "/api", TILLER, DRILL_UA, Some(200))
        );
        assert!(matches_drill(&page.events[0], "discovery /api"));
    }

    #[test]
    fn eks_messages_that_are_not_audit_events_are_skipped_unless_none_is() {
        let mixed = r#"{"events":[{"message":"not an event"},{"message":"{\"verb\":\"get\",\"requestURI\":\"/api\"}"}],"nextToken":""}"#;
        let page = parse_eks_log_events(mixed).unwrap();
        assert_eq!(page.events.len(), 1);
        assert_eq!(page.events[0].request_uri, "/api");
        assert_eq!(page.next_token, None, "an empty token ends the pages");
        let none = r#"{"events":[{"message":"START RequestId: 1"}],"searchedLogStreams":[]}"#;
        let error = parse_eks_log_events(none).unwrap_err().to_string();
        assert!(
            error.starts_with("none of the 1 log messages is a Kubernetes audit event"),
            "{error}"
        );
        let empty = parse_eks_log_events(r#"{"events":[],"searchedLogStreams":[]}"#).unwrap();
        assert!(empty.events.is_empty());
    }

    #[test]
    fn eks_output_that_is_not_filter_log_events_is_an_error() {
        for output in ["[]", "None", r#"{"logGroups": []}"#] {
            let error = parse_eks_log_events(output).unwrap_err().to_string();
            assert!(
                error.starts_with("not a filter-log-events result"),
                "{output}: {error}"
            );
        }
    }

    #[test]
    fn eks_log_query_command() {
        let query = log_query(Provider::Eks, eks_hint());
        assert_eq!(query.command().unwrap(), ("aws", owned(EKS_LOG_ARGV)));
        assert_eq!(
            query.command_line().unwrap(),
            "aws logs filter-log-events --log-group-name /aws/eks/prod-1/cluster \
             --log-stream-name-prefix kube-apiserver-audit --start-time 1795859940750 \
             --filter-pattern '{ $.user.username = \"system:serviceaccount:kube-system:tiller\" }' \
             --region us-west-2 --output json"
        );
    }

    #[test]
    fn eks_log_query_without_a_region_leaves_it_to_the_cli() {
        let hint = ClusterHint {
            region: None,
            ..eks_hint()
        };
        let (_, args) = log_query(Provider::Eks, hint).command().unwrap();
        let without_region: Vec<String> = EKS_LOG_ARGV
            .iter()
            .filter(|a| **a != "--region" && **a != "us-west-2")
            .map(|a| a.to_string())
            .collect();
        assert_eq!(args, without_region);
    }

    #[test]
    fn eks_log_query_needs_the_cluster_name() {
        let hint = ClusterHint {
            name: None,
            ..eks_hint()
        };
        let error = log_query(Provider::Eks, hint)
            .command()
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("the EKS cluster name is not known"),
            "{error}"
        );
    }

    // Running the check and the query with a stand-in aws: AWS cannot be reached from here.
    #[cfg(unix)]
    mod stand_in_clis {
        use super::*;

        #[test]
        fn stand_in_aws_reports_audit_enabled() {
            let clis = StandIns::new();
            clis.install("aws", &[(EKS_ARGV, Reply::Prints(EKS_ENABLED))]);
            let outcome = run_check(Provider::Eks, &eks_hint(), &clis.runner());
            assert_eq!(
                outcome,
                CheckOutcome::Enabled {
                    evidence: "control-plane log type audit is enabled (enabled types: api, audit)"
                        .into()
                }
            );
            assert_eq!(clis.calls("aws"), vec![bracketed(EKS_ARGV)]);
        }

        #[test]
        fn stand_in_aws_reports_audit_disabled() {
            let clis = StandIns::new();
            clis.install("aws", &[(EKS_ARGV, Reply::Prints(EKS_DISABLED))]);
            let outcome = run_check(Provider::Eks, &eks_hint(), &clis.runner());
            assert!(
                matches!(outcome, CheckOutcome::Disabled { ref evidence } if evidence.contains("not enabled")),
                "{outcome:?}"
            );
            assert_eq!(clis.calls("aws"), vec![bracketed(EKS_ARGV)]);
        }

        #[test]
        fn stand_in_aws_error_is_reported_with_its_message() {
            let clis = StandIns::new();
            let error = "\nAn error occurred (ResourceNotFoundException) when calling the DescribeCluster operation: No cluster found for name: prod-1.\n";
            clis.install(
                "aws",
                &[(
                    EKS_ARGV,
                    Reply::Fails {
                        code: 254,
                        stderr: error,
                    },
                )],
            );
            assert_eq!(
                run_check(Provider::Eks, &eks_hint(), &clis.runner()),
                CheckOutcome::CliFailed {
                    command: EKS_COMMAND.into(),
                    message: "An error occurred (ResourceNotFoundException) when calling the DescribeCluster operation: \
                              No cluster found for name: prod-1. (exit status 254)"
                        .into()
                }
            );
        }

        #[test]
        fn stand_in_aws_printing_no_json_is_not_a_result() {
            let clis = StandIns::new();
            clis.install("aws", &[(EKS_ARGV, Reply::Prints("None\n"))]);
            let outcome = run_check(Provider::Eks, &eks_hint(), &clis.runner());
            assert!(
                matches!(&outcome, CheckOutcome::CliFailed { command, message } if command == EKS_COMMAND && message.starts_with("unexpected output: not JSON")),
                "{outcome:?}"
            );
        }

        #[test]
        fn stand_in_aws_is_not_run_without_a_cluster_name() {
            let clis = StandIns::new();
            clis.install("aws", &[(EKS_ARGV, Reply::Prints(EKS_ENABLED))]);
            let hint = ClusterHint {
                name: None,
                ..eks_hint()
            };
            let outcome = run_check(Provider::Eks, &hint, &clis.runner());
            assert!(
                matches!(&outcome, CheckOutcome::NotEnoughToRun { missing } if missing.starts_with("the EKS cluster name")),
                "{outcome:?}"
            );
            assert!(clis.calls("aws").is_empty());
        }

        fn eks_next_page_argv() -> Vec<&'static str> {
            [EKS_LOG_ARGV, &["--next-token", EKS_NEXT_TOKEN]].concat()
        }

        #[test]
        fn stand_in_aws_log_query_follows_next_token_to_the_second_page() {
            let clis = StandIns::new();
            let second = eks_next_page_argv();
            clis.install(
                "aws",
                &[
                    (EKS_LOG_ARGV, Reply::Prints(EKS_LOG_FIRST_PAGE)),
                    (&second, Reply::Prints(EKS_LOG_EVENTS)),
                ],
            );
            let events = log_query(Provider::Eks, eks_hint())
                .fetch(&clis.runner())
                .unwrap();
            assert_eq!(
                clis.calls("aws"),
                vec![bracketed(EKS_LOG_ARGV), bracketed(&second)]
            );
            assert_eq!(
                events.iter().map(seen).collect::<Vec<_>>(),
                vec![
                    ("get", "/api", TILLER, DRILL_UA, Some(200)),
                    (
                        "list",
                        "/api/v1/namespaces/kube-system/secrets",
                        TILLER,
                        DRILL_UA,
                        Some(403)
                    ),
                    (
                        "list",
                        "/api/v1/namespaces/kube-system/pods?limit=500",
                        TILLER,
                        KUBECTL_UA,
                        Some(403)
                    ),
                ]
            );
        }

        #[test]
        fn stand_in_aws_log_query_stops_after_a_few_pages() {
            let clis = StandIns::new();
            // A service that always has another page must not keep the poll going.
            clis.install(
                "aws",
                &[
                    (EKS_LOG_ARGV, Reply::Prints(EKS_LOG_FIRST_PAGE)),
                    (&eks_next_page_argv(), Reply::Prints(EKS_LOG_FIRST_PAGE)),
                ],
            );
            let events = log_query(Provider::Eks, eks_hint())
                .fetch(&clis.runner())
                .unwrap();
            assert_eq!(clis.calls("aws").len(), MAX_PAGES);
            assert_eq!(events.len(), MAX_PAGES);
        }

        #[test]
        fn stand_in_aws_log_query_error_names_the_command() {
            let clis = StandIns::new();
            clis.install(
                "aws",
                &[(
                    EKS_LOG_ARGV,
                    Reply::Fails {
                        code: 254,
                        stderr: "\nAn error occurred (ResourceNotFoundException) when calling the FilterLogEvents operation: The specified log group does not exist.\n",
                    },
                )],
            );
            let error = log_query(Provider::Eks, eks_hint())
                .fetch(&clis.runner())
                .unwrap_err()
                .to_string();
            assert_eq!(
                error,
                "`aws logs filter-log-events --log-group-name /aws/eks/prod-1/cluster \
                 --log-stream-name-prefix kube-apiserver-audit --start-time 1795859940750 \
                 --filter-pattern '{ $.user.username = \"system:serviceaccount:kube-system:tiller\" }' \
                 --region us-west-2 --output json`: An error occurred (ResourceNotFoundException) \
                 when calling the FilterLogEvents operation: The specified log group does not exist. \
                 (exit status 254)"
            );
            assert!(!error.contains('\n'));
        }

        #[test]
        fn stand_in_aws_log_query_failure_keeps_the_cli_run_as_its_cause() {
            use std::error::Error as _;
            let clis = StandIns::new();
            clis.install(
                "aws",
                &[(
                    EKS_LOG_ARGV,
                    Reply::Fails {
                        code: 254,
                        stderr: "An error occurred (AccessDeniedException)\n",
                    },
                )],
            );
            let error = log_query(Provider::Eks, eks_hint())
                .fetch(&clis.runner())
                .unwrap_err();
            let cause = error.source().and_then(|c| c.downcast_ref::<RunError>());
            assert!(
                matches!(cause, Some(RunError::Exited(output)) if output.exit_code == Some(254)),
                "{error:?}"
            );
        }
    }
}
