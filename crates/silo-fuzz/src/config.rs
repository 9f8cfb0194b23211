//! `config_yaml`: the project file parser (`silo-config`) with hostile `silo.yaml` text.
//!
//! Invariants: parsing never panics, and every error names the file (its message starts
//! with the path, as the CLI shows it).

use std::path::Path;

/// Where the text is said to come from (nothing is read there).
const PATH: &str = "/nonexistent/silo-fuzz/silo.yaml";

/// Words the mutator inserts.
pub const DICTIONARY: &[&str] = &[
    "agents: agents\n",
    "workflows: workflows\n",
    "seed: seed.sql\n",
    "data_dir: ",
    "routing:\n",
    "  humans: [human]\n",
    "  default_human: human\n",
    "  routes:\n",
    "    refund: { agent: refund-agent }\n",
    "    message: { workflow: customer-message }\n",
    "router:\n",
    "  max_redirects: 3\n",
    "  lease: 30s\n",
    "  stage_timeout: 2m\n",
    "  shadow: { one_in: 10 }\n",
    "daemon:\n",
    "  listen: 127.0.0.1:8700\n",
    "  cells: 4\n",
    "llm:\n",
    "  url: http://127.0.0.1:8080/v1\n",
    "  api_key_env: SILO_LLM_API_KEY\n",
    "smtp:\n",
    "  url: smtp://127.0.0.1:25\n",
    "database: postgresql://silo@localhost/silo\n",
    "operators:\n",
    "  alice:\n",
    "    pool: human\n",
    "    admin: true\n",
    "    capabilities:\n",
    "      refund: { max_cents: 100000, currency: USD }\n",
    "[::1]:0",
    "0s",
    "&a ",
    "*a",
    "~",
];

/// Runs one input (see the module docs).
pub fn run(data: &[u8]) {
    let Some(text) = crate::text(data) else {
        return;
    };
    if let Err(e) = silo_config::Config::parse(text, Path::new(PATH)) {
        let message = e.to_string();
        assert!(
            message.starts_with(PATH),
            "a config error does not name the file: {message}"
        );
    }
}
