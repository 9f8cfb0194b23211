//! The file as written: serde structs with defaults, every value checked while it is
//! read (so the parser's error carries the line, column and field), then resolved into
//! [`Config`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::{
    Config, ConfigError, Database, DatabaseUrl, Llm, Operator, Route, Router, Routing, Serve, Smtp,
    DEFAULT_HUMAN_POOL,
};

/// Most cells one daemon runs at once.
const MAX_WORKERS: usize = 256;
/// Most redirects a run may be allowed.
const MAX_REDIRECTS: u32 = 100;

pub(crate) fn parse(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
    // An empty file is the defaults, as a missing one is.
    if text.trim().is_empty() {
        return Ok(RawConfig::default());
    }
    let de = serde_norway::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = match e.path().to_string() {
            p if p.is_empty() => ".".to_owned(),
            p => p,
        };
        let inner = e.into_inner();
        let location = inner.location().map(|l| (l.line(), l.column()));
        // serde_norway appends " at line L column C"; the location is shown once, up front.
        let message = inner.to_string();
        let message = match message.find(" at line ") {
            Some(i) if location.is_some() => message[..i].to_owned(),
            _ => message,
        };
        ConfigError::Field {
            path: path.to_path_buf(),
            location,
            field,
            message,
        }
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    data_dir: Option<PathBuf>,
    agents: Option<PathBuf>,
    workflows: Option<PathBuf>,
    seed: Option<PathBuf>,
    policy: Option<PathBuf>,
    #[serde(default)]
    routing: RawRouting,
    #[serde(default)]
    router: RawRouter,
    #[serde(default)]
    serve: RawServe,
    llm: Option<RawLlm>,
    smtp: Option<RawSmtp>,
    #[serde(default)]
    operators: BTreeMap<String, RawOperator>,
    database: Option<RawDatabase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawDatabaseFields")]
struct RawDatabase(Database);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabaseFields {
    url: Option<String>,
    url_env: Option<String>,
    pool: Option<u32>,
}

impl TryFrom<RawDatabaseFields> for RawDatabase {
    type Error = String;

    fn try_from(raw: RawDatabaseFields) -> Result<Self, String> {
        let url = match (raw.url, raw.url_env) {
            (Some(url), None) => {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(format!(
                        "`url` must be a PostgreSQL URL (`postgresql://user@host:5432/db`), not `{}`",
                        url.split("://").next().unwrap_or_default()
                    ));
                }
                let authority = url.split("://").nth(1).unwrap_or_default();
                let userinfo = authority.split(['/', '?']).next().unwrap_or_default();
                if userinfo
                    .rsplit_once('@')
                    .is_some_and(|(user, _)| user.contains(':'))
                {
                    return Err(
                        "`url` holds a password: put the whole URL in an environment \
                                variable and name it with `url_env` instead"
                            .into(),
                    );
                }
                DatabaseUrl::Literal(url)
            }
            (None, Some(var)) if !var.is_empty() => DatabaseUrl::Env(var),
            _ => return Err("give exactly one of `url` and `url_env`".into()),
        };
        let pool = raw.pool.unwrap_or(8);
        if !(1..=256).contains(&pool) {
            return Err(format!("`pool` must be 1 to 256 connections, not {pool}"));
        }
        Ok(RawDatabase(Database { url, pool }))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOperator {
    #[serde(deserialize_with = "name")]
    pool: String,
    #[serde(default)]
    capabilities: Option<serde_norway::Value>,
    #[serde(default)]
    admin: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    #[serde(default, deserialize_with = "names")]
    humans: Vec<String>,
    #[serde(default, deserialize_with = "opt_name")]
    default_human: Option<String>,
    #[serde(default)]
    human_for: BTreeMap<String, String>,
    #[serde(default)]
    routes: BTreeMap<String, RawRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawRouteFields")]
struct RawRoute(Route);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouteFields {
    agent: Option<String>,
    workflow: Option<String>,
}

impl TryFrom<RawRouteFields> for RawRoute {
    type Error = String;

    fn try_from(raw: RawRouteFields) -> Result<Self, String> {
        match (raw.agent, raw.workflow) {
            (Some(a), None) if !a.is_empty() => Ok(RawRoute(Route::Agent(a))),
            (None, Some(w)) if !w.is_empty() => Ok(RawRoute(Route::Workflow(w))),
            _ => Err("a route names exactly one of `agent` or `workflow`".into()),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouter {
    #[serde(default, deserialize_with = "redirects")]
    max_redirects: Option<u32>,
    #[serde(default, deserialize_with = "duration")]
    lease: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    stage_timeout: Option<Duration>,
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    shadow: Option<RawShadow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShadow {
    #[serde(deserialize_with = "one_in")]
    one_in: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServe {
    listen: Option<SocketAddr>,
    console: Option<SocketAddr>,
    #[serde(default, deserialize_with = "workers")]
    workers: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLlm {
    url: String,
    api_key_env: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    url: String,
    from: String,
}

fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn check_name<E: serde::de::Error>(name: String) -> Result<String, E> {
    if name_ok(&name) {
        Ok(name)
    } else {
        Err(E::custom(format!(
            "`{name}` is not a name (lower-case letters, digits, `-`, `_`; at most 64)"
        )))
    }
}

fn names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    list.into_iter().map(check_name).collect()
}

fn name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    check_name(String::deserialize(d)?)
}

fn opt_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(check_name)
        .transpose()
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    let value = humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!("`{text}` is not a duration (e.g. 30s, 5m): {e}"))
    })?;
    if value.is_zero() {
        return Err(serde::de::Error::custom(
            "a duration of zero is not allowed",
        ));
    }
    Ok(Some(value))
}

fn redirects<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let n = u32::deserialize(d)?;
    if n > MAX_REDIRECTS {
        return Err(serde::de::Error::custom(format!(
            "{n} is more than the {MAX_REDIRECTS} redirects a run may be allowed"
        )));
    }
    Ok(Some(n))
}

fn one_in<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if n == 0 {
        return Err(serde::de::Error::custom(
            "must be at least 1 (1 samples every task); leave `shadow` out to turn it off",
        ));
    }
    Ok(n)
}

fn workers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let n = usize::deserialize(d)?;
    if n == 0 || n > MAX_WORKERS {
        return Err(serde::de::Error::custom(format!(
            "{n} is not between 1 and {MAX_WORKERS}"
        )));
    }
    Ok(Some(n))
}

fn at(base: &Path, path: Option<PathBuf>, default: &str) -> PathBuf {
    let path = path.unwrap_or_else(|| PathBuf::from(default));
    if path.is_absolute() || base == Path::new(".") {
        path
    } else {
        base.join(path)
    }
}

impl RawConfig {
    pub(crate) fn resolve(self, file: Option<PathBuf>, base: &Path) -> Config {
        let mut humans = self.routing.humans;
        if humans.is_empty() {
            humans.push(DEFAULT_HUMAN_POOL.to_owned());
        }
        let default_human = self
            .routing
            .default_human
            .unwrap_or_else(|| humans[0].clone());
        Config {
            file,
            data_dir: at(base, self.data_dir, "silo-data"),
            agents: at(base, self.agents, "agents"),
            workflows: at(base, self.workflows, "workflows"),
            seed: self.seed.map(|s| at(base, Some(s), "")),
            policy: self.policy.map(|p| at(base, Some(p), "")),
            routing: Routing {
                humans,
                default_human,
                human_for: self.routing.human_for,
                routes: self
                    .routing
                    .routes
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect(),
            },
            router: Router {
                max_redirects: self.router.max_redirects.unwrap_or(3),
                lease: self.router.lease.unwrap_or(Duration::from_secs(300)),
                stage_timeout: self.router.stage_timeout,
                max_attempts: self.router.max_attempts.unwrap_or(3),
                shadow_one_in: self.router.shadow.map(|s| s.one_in),
            },
            serve: Serve {
                listen: self
                    .serve
                    .listen
                    .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8700))),
                workers: self.serve.workers.unwrap_or(2),
                console: self
                    .serve
                    .console
                    .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8701))),
            },
            llm: self.llm.map(|l| Llm {
                url: l.url,
                api_key_env: l.api_key_env,
            }),
            smtp: self.smtp.map(|s| Smtp {
                url: s.url,
                from: s.from,
            }),
            operators: self
                .operators
                .into_iter()
                .map(|(name, op)| {
                    let capabilities = op
                        .capabilities
                        .unwrap_or(serde_norway::Value::Mapping(Default::default()));
                    (
                        name,
                        Operator {
                            pool: op.pool,
                            capabilities,
                            admin: op.admin,
                        },
                    )
                })
                .collect(),
            database: self.database.map(|d| d.0),
        }
    }
}
