//! One module per command group; each owns its argument structs and output.

pub mod agent;
pub mod audit;
pub mod backend;
pub mod cell;
pub mod demo;
pub mod init;
pub mod keys;
pub mod mcp;
pub mod membrane;
pub mod operator;
pub mod pii;
pub mod policy;
pub mod redteam;
pub mod run;
pub mod serve;
pub mod signal;
pub mod task;
pub mod workflow;

/// The exit code for an error that stopped a command: 125 when a cell could
/// not be set up (as container runtimes do), 127 for a command not found in
/// the cell, 2 for bad usage, 1 otherwise.
pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    use silo_cell::CellError;
    let cell_err = err.downcast_ref::<CellError>().or_else(|| {
        match err.downcast_ref::<silo_invoke::InvokeError>() {
            Some(silo_invoke::InvokeError::Cell(c)) => Some(c),
            _ => None,
        }
    });
    if let Some(silo_invoke::InvokeError::Manifest { .. } | silo_invoke::InvokeError::Invalid(_)) =
        err.downcast_ref::<silo_invoke::InvokeError>()
    {
        return 2;
    }
    match cell_err {
        Some(CellError::CommandFailed { .. }) => 127,
        Some(
            CellError::InvalidSpec(_) | CellError::AgentDirMissing(_) | CellError::SocketMissing(_),
        ) => 2,
        Some(CellError::UnknownCell(_)) => 1,
        Some(_) => 125,
        None => 1,
    }
}

/// Fills the business database from the project's `seed`, once, before anything opens it
/// (an empty one would otherwise get the built-in demo customers).
pub fn seed(ctx: &crate::Ctx) -> anyhow::Result<()> {
    if let Some(seed) = &ctx.config.seed {
        silo_membrane::Services::seed_business_db(&ctx.data_dir, seed)?;
    }
    Ok(())
}

/// [`seed`], then the host settings of one invocation ([`turn_host`]): for a command that
/// makes one (`silo run`, `silo task act`).
pub fn host(
    ctx: &crate::Ctx,
    run_dir: &std::path::Path,
    audit_durability: silo_audit::Durability,
) -> anyhow::Result<silo_invoke::Host> {
    seed(ctx)?;
    turn_host(ctx, run_dir, audit_durability)
}

/// The host settings of one agent invocation: this data directory and run directory, the
/// running `silo` binary as the cell supervisor, the project's policy file, and the LLM
/// upstream and SMTP relay (environment first, then the project file). Every router turn
/// makes one; the router seeds the business database once, when it starts.
pub fn turn_host(
    ctx: &crate::Ctx,
    run_dir: &std::path::Path,
    audit_durability: silo_audit::Durability,
) -> anyhow::Result<silo_invoke::Host> {
    use anyhow::Context;
    let smtp = match silo_membrane::connectors::smtp::SmtpConfig::from_env()
        .context("SILO_SMTP_URL / SILO_SMTP_FROM")?
    {
        Some(env) => Some(env),
        None => ctx
            .config
            .smtp
            .as_ref()
            .map(|s| silo_membrane::connectors::smtp::SmtpConfig::new(&s.url, &s.from)),
    };
    Ok(silo_invoke::Host {
        data_dir: ctx.data_dir.clone(),
        run_dir: run_dir.to_path_buf(),
        silo_exe: std::env::current_exe().context("cannot find the running `silo` binary")?,
        llm: llm_upstream(ctx)?,
        audit_durability,
        smtp,
        policy: ctx.config.policy.clone(),
        runtime: None,
        warm: false,
        database: ctx.database()?,
        key_issuer: None,
    })
}

/// The LLM upstream: `SILO_LLM_URL` (an OpenAI-compatible base URL such as
/// `http://127.0.0.1:8080/v1`) with `SILO_LLM_API_KEY`, else the project file's `llm`
/// (its key read from the variable it names), else none. Token usage is kept in the
/// membrane database, so budgets hold across runs.
pub fn llm_upstream(
    ctx: &crate::Ctx,
) -> anyhow::Result<Option<Box<dyn silo_membrane::LlmUpstream>>> {
    use anyhow::Context;
    use silo_membrane::{ApiKey, HttpUpstream, HttpUpstreamConfig};
    let (url, key_var) = match std::env::var_os("SILO_LLM_URL") {
        Some(url) => (
            url.into_string()
                .map_err(|_| anyhow::anyhow!("SILO_LLM_URL is not UTF-8"))?,
            Some("SILO_LLM_API_KEY".to_owned()),
        ),
        None => match &ctx.config.llm {
            Some(llm) => (llm.url.clone(), llm.api_key_env.clone()),
            None => return Ok(None),
        },
    };
    let mut config = HttpUpstreamConfig::new(url);
    if let Some(var) = key_var {
        if let Ok(key) = std::env::var(&var) {
            config = config.api_key(ApiKey::new(key).with_context(|| var.clone())?);
        }
    }
    let usage = crate::cmd::backend::llm_usage(ctx)?;
    let upstream = HttpUpstream::new(config, usage).context("the LLM upstream URL")?;
    Ok(Some(Box::new(upstream)))
}
