//! One `when:` condition of a rule: a param path and one operator (equality, comparison,
//! membership, regex, existence), compiled once at load.

use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde_json::Value;

use crate::amount::parse_integer;

/// A condition as written in YAML: `{ param: amount, gt: 20000 }`. Exactly one operator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConditionSpec {
    param: String,
    #[serde(default)]
    eq: Option<Value>,
    #[serde(default)]
    ne: Option<Value>,
    #[serde(default)]
    lt: Option<Value>,
    #[serde(default)]
    le: Option<Value>,
    #[serde(default)]
    gt: Option<Value>,
    #[serde(default)]
    ge: Option<Value>,
    #[serde(default, rename = "in")]
    is_in: Option<Vec<Value>>,
    #[serde(default)]
    not_in: Option<Vec<Value>>,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    exists: Option<bool>,
}

#[derive(Debug, Clone)]
enum Op {
    Eq(Value),
    Ne(Value),
    Lt(i64),
    Le(i64),
    Gt(i64),
    Ge(i64),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    Regex(Regex),
    Exists(bool),
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    param: String,
    path: Vec<String>,
    op: Op,
}

/// Largest compiled regex; patterns are operator-written, but a typo should not eat memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl ConditionSpec {
    pub(crate) fn compile(self) -> Result<Condition, String> {
        if self.param.is_empty() || self.param.split('.').any(str::is_empty) {
            return Err(format!("param path `{}` is not a dotted name", self.param));
        }
        let int = |name: &str, v: Value| {
            parse_integer(&v).map_err(|_| format!("`{name}` needs an integer, found `{v}`"))
        };
        let mut ops = Vec::new();
        if let Some(v) = self.eq {
            ops.push(Op::Eq(v));
        }
        if let Some(v) = self.ne {
            ops.push(Op::Ne(v));
        }
        if let Some(v) = self.lt {
            ops.push(Op::Lt(int("lt", v)?));
        }
        if let Some(v) = self.le {
            ops.push(Op::Le(int("le", v)?));
        }
        if let Some(v) = self.gt {
            ops.push(Op::Gt(int("gt", v)?));
        }
        if let Some(v) = self.ge {
            ops.push(Op::Ge(int("ge", v)?));
        }
        if let Some(v) = self.is_in {
            ops.push(Op::In(v));
        }
        if let Some(v) = self.not_in {
            ops.push(Op::NotIn(v));
        }
        if let Some(p) = self.regex {
            let re = RegexBuilder::new(&p)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| format!("regex `{p}` does not compile: {e}"))?;
            ops.push(Op::Regex(re));
        }
        if let Some(b) = self.exists {
            ops.push(Op::Exists(b));
        }
        let mut ops = ops.into_iter();
        match (ops.next(), ops.next()) {
            (Some(op), None) => Ok(Condition {
                path: self.param.split('.').map(str::to_string).collect(),
                param: self.param,
                op,
            }),
            (None, _) => Err(format!(
                "condition on `{}` has no operator (eq, ne, lt, le, gt, ge, in, not_in, regex, exists)",
                self.param
            )),
            (Some(_), Some(_)) => {
                Err(format!("condition on `{}` has more than one operator", self.param))
            }
        }
    }
}

impl Condition {
    /// `Ok(true)` if the condition holds. A missing param holds only for `exists: false`.
    /// A param of the wrong type for the operator is an error (and so a deny), never a
    /// silent non-match: `amount: "25000"` must not slip under a `gt` rule.
    pub(crate) fn eval(&self, params: &Value) -> Result<bool, String> {
        let mut cur = params;
        for seg in &self.path {
            match cur.get(seg) {
                Some(v) => cur = v,
                None => return Ok(matches!(self.op, Op::Exists(false))),
            }
        }
        let int = || parse_integer(cur).map_err(|e| format!("param `{}`: {e}", self.param));
        Ok(match &self.op {
            Op::Exists(b) => *b,
            Op::Eq(v) => cur == v,
            Op::Ne(v) => cur != v,
            Op::In(list) => list.contains(cur),
            Op::NotIn(list) => !list.contains(cur),
            Op::Lt(n) => int()? < *n,
            Op::Le(n) => int()? <= *n,
            Op::Gt(n) => int()? > *n,
            Op::Ge(n) => int()? >= *n,
            Op::Regex(re) => match cur {
                Value::String(s) => re.is_match(s),
                _ => {
                    return Err(format!(
                        "param `{}` must be a string for `regex`",
                        self.param
                    ))
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(yaml: &str) -> Result<Condition, String> {
        let spec: ConditionSpec = serde_norway::from_str(yaml).map_err(|e| e.to_string())?;
        spec.compile()
    }

    #[test]
    fn operators() {
        let p = json!({"amount": 25000, "template": "apology", "to": {"domain": "x.com"}});
        assert!(cond("{param: amount, gt: 20000}")
            .unwrap()
            .eval(&p)
            .unwrap());
        assert!(!cond("{param: amount, le: 20000}")
            .unwrap()
            .eval(&p)
            .unwrap());
        assert!(cond("{param: template, in: [apology, x]}")
            .unwrap()
            .eval(&p)
            .unwrap());
        assert!(!cond("{param: template, not_in: [apology]}")
            .unwrap()
            .eval(&p)
            .unwrap());
        assert!(cond("{param: to.domain, regex: '\\.com$'}")
            .unwrap()
            .eval(&p)
            .unwrap());
        assert!(cond("{param: template, eq: apology}")
            .unwrap()
            .eval(&p)
            .unwrap());
        assert!(cond("{param: template, ne: other}")
            .unwrap()
            .eval(&p)
            .unwrap());
        assert!(cond("{param: missing, exists: false}")
            .unwrap()
            .eval(&p)
            .unwrap());
        assert!(!cond("{param: missing, gt: 1}").unwrap().eval(&p).unwrap());
    }

    #[test]
    fn wrong_param_type_is_an_error() {
        let c = cond("{param: amount, gt: 20000}").unwrap();
        assert!(c.eval(&json!({"amount": "25000"})).is_err());
        assert!(c.eval(&json!({"amount": 2.5e4})).is_err());
        assert!(cond("{param: amount, regex: x}")
            .unwrap()
            .eval(&json!({"amount": 1}))
            .is_err());
    }

    #[test]
    fn bad_specs_are_load_errors() {
        assert!(cond("{param: amount}").is_err());
        assert!(cond("{param: amount, gt: 1, lt: 5}").is_err());
        assert!(cond("{param: amount, gt: 1.5}").is_err());
        assert!(cond("{param: amount, gt: '5'}").is_err());
        assert!(cond("{param: amount, regex: '('}").is_err());
        assert!(cond("{param: amount, greater: 1}").is_err());
        assert!(cond("{param: '', eq: 1}").is_err());
    }
}
