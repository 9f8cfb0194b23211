//! silo.yaml: defaults, a full file, and errors that name the file, line and field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use silo_config::{Config, ConfigError, Route};

fn err(text: &str) -> String {
    match Config::parse(text, Path::new("/p/silo.yaml")) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn no_file_and_an_empty_file_are_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let none = Config::discover(dir.path()).unwrap();
    assert_eq!(none.file, None);
    assert_eq!(none.agents, dir.path().join("agents"));
    assert_eq!(none.data_dir, dir.path().join("silo-data"));
    assert_eq!(none.routing.humans, vec!["human".to_owned()]);
    assert_eq!(none.routing.default_human, "human");
    assert_eq!(none.router.max_redirects, 3);
    assert_eq!(none.router.shadow_one_in, None);
    assert_eq!(none.router.max_attempts, 3);
    assert_eq!(none.serve.listen.to_string(), "127.0.0.1:8700");
    assert!(none.llm.is_none() && none.smtp.is_none() && none.seed.is_none());

    std::fs::write(dir.path().join("silo.yaml"), "# nothing yet\n").unwrap();
    let empty = Config::discover(dir.path()).unwrap();
    assert_eq!(empty.file, Some(dir.path().join("silo.yaml")));
    assert_eq!(
        Config {
            file: None,
            ..empty
        },
        none
    );
}

#[test]
fn a_full_file_resolves_paths_against_its_folder() {
    let text = "
data_dir: state
agents: my-agents
workflows: /etc/flows
seed: data/seed.sql
policy: policies/policy.yaml
routing:
  humans: [support, managers]
  default_human: support
  human_for: { manager-agent: managers }
  routes:
    refund: { agent: refund-agent }
    message: { workflow: customer-message }
router: { max_redirects: 5, lease: 2m, stage_timeout: 45s, max_attempts: 5, shadow: { one_in: 10 } }
serve: { listen: '127.0.0.1:9000', workers: 4 }
llm: { url: 'http://127.0.0.1:8080/v1', api_key_env: MY_KEY }
smtp: { url: 'smtp://127.0.0.1:2525', from: 'shop@example.com' }
operators:
  alice: { pool: managers, capabilities: { refund: { max_cents: 100000, currency: USD } } }
";
    let c = Config::parse(text, Path::new("/p/silo.yaml")).unwrap();
    assert_eq!(c.data_dir, Path::new("/p/state"));
    assert_eq!(c.agents, Path::new("/p/my-agents"));
    assert_eq!(c.workflows, Path::new("/etc/flows"));
    assert_eq!(c.seed.as_deref(), Some(Path::new("/p/data/seed.sql")));
    assert_eq!(
        c.policy.as_deref(),
        Some(Path::new("/p/policies/policy.yaml"))
    );
    assert_eq!(c.routing.default_human, "support");
    assert_eq!(c.routing.human_for["manager-agent"], "managers");
    assert_eq!(
        c.routing.routes["refund"],
        Route::Agent("refund-agent".into())
    );
    assert_eq!(
        c.routing.routes["message"],
        Route::Workflow("customer-message".into())
    );
    assert_eq!(c.router.max_redirects, 5);
    assert_eq!(c.router.lease, Duration::from_secs(120));
    assert_eq!(c.router.stage_timeout, Some(Duration::from_secs(45)));
    assert_eq!(c.router.shadow_one_in, Some(10));
    assert_eq!(c.router.max_attempts, 5);
    assert_eq!(c.serve.workers, 4);
    assert_eq!(c.llm.unwrap().api_key_env.as_deref(), Some("MY_KEY"));
    assert_eq!(c.smtp.unwrap().from, "shop@example.com");
    assert_eq!(c.operators["alice"].pool, "managers");
    assert!(c.operators["alice"].capabilities.get("refund").is_some());
}

#[test]
fn errors_name_the_file_line_and_field() {
    let e = err("router:\n  max_redirects: 3\n  shadow: { one_in: 0 }\n");
    assert!(e.starts_with("/p/silo.yaml:3:"), "{e}");
    assert!(e.contains("router.shadow.one_in"), "{e}");
    assert!(e.contains("at least 1"), "{e}");

    let e = err("serve:\n  workers: 2\n  listn: 1\n");
    assert!(e.starts_with("/p/silo.yaml:3:"), "{e}");
    assert!(e.contains("unknown field `listn`"), "{e}");

    let e = err("router: { stage_timeout: soon }\n");
    assert!(
        e.contains("router.stage_timeout") && e.contains("not a duration"),
        "{e}"
    );

    let e = err("routing:\n  routes:\n    refund: { agent: a, workflow: w }\n");
    assert!(e.contains("routing.routes.refund"), "{e}");
    assert!(e.contains("exactly one of"), "{e}");

    let e = err("serve: { workers: 0 }\n");
    assert!(
        e.contains("serve.workers") && e.contains("between 1 and"),
        "{e}"
    );

    let e = err("routing: { humans: [Support Team] }\n");
    assert!(
        e.contains("routing.humans") && e.contains("is not a name"),
        "{e}"
    );

    let e = err("agents: [1, 2]\n");
    assert!(e.contains("agents"), "{e}");

    let e = err("routing: { humans: [support], default_human: human }\n");
    assert!(e.contains("routing.default_human"), "{e}");
    let e = err("operators: { Bob Smith: { pool: human } }\n");
    assert!(e.contains("operators.Bob Smith"), "{e}");
    let e = err("operators: { human: { pool: human } }\n");
    assert!(e.contains("operators.human"), "{e}");
    let e = err("operators: { bob: { pool: nobody } }\n");
    assert!(e.contains("operators.bob.pool"), "{e}");
    let e = err("routing: { human_for: { a: nobody } }\n");
    assert!(e.contains("routing.human_for.a"), "{e}");
}

#[test]
fn an_unreadable_file_names_itself() {
    let e = Config::load(Path::new("/nonexistent/silo.yaml")).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e.to_string().starts_with("/nonexistent/silo.yaml: "), "{e}");
}

#[test]
fn the_database_comes_from_a_url_without_a_password_or_an_environment_variable() {
    let c = Config::parse(
        "database:\n  url: postgresql://silo@db.internal:5432/silo\n  pool: 4\n",
        Path::new("/p/silo.yaml"),
    )
    .unwrap();
    let db = c.database.unwrap();
    assert_eq!(
        db.url,
        silo_config::DatabaseUrl::Literal("postgresql://silo@db.internal:5432/silo".into())
    );
    assert_eq!(db.pool, 4);
    let c = Config::parse(
        "database: { url_env: SILO_DATABASE_URL }\n",
        Path::new("/p/silo.yaml"),
    )
    .unwrap();
    let db = c.database.unwrap();
    assert_eq!(
        db.url,
        silo_config::DatabaseUrl::Env("SILO_DATABASE_URL".into())
    );
    assert_eq!(db.pool, 8);
    assert!(Config::parse("", Path::new("/p/silo.yaml"))
        .unwrap()
        .database
        .is_none());

    let e = err("database:\n  url: postgresql://silo:hunter2@db/silo\n");
    assert!(
        e.starts_with("/p/silo.yaml:2:") || e.starts_with("/p/silo.yaml:"),
        "{e}"
    );
    assert!(e.contains("database") && e.contains("password"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
    let e = err("database: { url: mysql://db/silo }\n");
    assert!(e.contains("PostgreSQL URL"), "{e}");
    let e = err("database: { url: postgresql://db/s, url_env: X }\n");
    assert!(e.contains("exactly one of"), "{e}");
    let e = err("database: { url_env: X, pool: 0 }\n");
    assert!(e.contains("pool"), "{e}");
    let e = err("database: { url_env: X, host: y }\n");
    assert!(e.contains("unknown field `host`"), "{e}");
}
