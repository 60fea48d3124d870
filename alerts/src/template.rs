//! Message templates (minijinja). Every sink that writes prose has a default
//! here; a sink's `*_template` setting replaces it with a file. Templates see
//! the notification payload (`notification_json`): `reason`, `status`,
//! `group_labels`, `firing`, `resolved` (findings with `severity`, `title`,
//! `account`, `region`, `resource`, `labels`, `details`, ...), `at`, `id`.
//! A template named `*.html` escapes HTML; every value loses its control
//! characters (`troop_core::clean_controls_keeping_lines`) in all of them.

use std::path::Path;

pub const SUBJECT: &str = "[troop] {{ reason|upper }}: {{ firing|length }} firing\
{% if resolved %}, {{ resolved|length }} resolved{% endif %}\
{% for k, v in group_labels|items %}{% if v %} {{ k }}={{ v }}{% endif %}{% endfor %}";

pub const TEXT: &str = r#"{% if firing %}Firing ({{ reason }}):
{% for f in firing %}
[{{ f.severity|upper }}] {{ f.title }}
    {{ f.monkey }}/{{ f.kind }} in {{ f.account }}/{{ f.region }}: {{ f.resource }}
{% for k, v in f.details|items if v is not none and v != "" and v != [] %}    {{ k }}: {% if v is sequence and v is not string %}{{ v|join(", ") }}{% else %}{{ v }}{% endif %}
{% endfor %}{% endfor %}{% endif %}{% if resolved %}
Resolved:
{% for f in resolved %}    {{ f.title }} ({{ f.account }}/{{ f.region }} {{ f.resource }})
{% endfor %}{% endif %}
-- troop, {{ at }}, notification {{ id }}
"#;

pub const HTML: &str = r#"<html><body>
{% if firing %}<h3>Firing ({{ reason }})</h3>
<table border="1" cellpadding="4" cellspacing="0">
<tr><th>Severity</th><th>Finding</th><th>Where</th><th>Details</th></tr>
{% for f in firing %}<tr><td>{{ f.severity }}</td><td>{{ f.title }}</td><td>{{ f.account }}/{{ f.region }}<br>{{ f.resource }}</td>
<td>{% for k, v in f.details|items if v is not none and v != "" and v != [] %}<b>{{ k }}</b>: {% if v is sequence and v is not string %}{{ v|join(", ") }}{% else %}{{ v }}{% endif %}<br>{% endfor %}</td></tr>
{% endfor %}</table>{% endif %}
{% if resolved %}<h3>Resolved</h3><ul>{% for f in resolved %}<li>{{ f.title }} ({{ f.account }}/{{ f.region }} {{ f.resource }})</li>{% endfor %}</ul>{% endif %}
<p><small>troop, {{ at }}, notification {{ id }}</small></p>
</body></html>
"#;

/// Slack mrkdwn; strings in the context are already Slack-escaped.
pub const SLACK: &str = r#"{% for f in firing %}*{{ f.severity|upper }}* {{ f.title }}
`{{ f.account }}/{{ f.region }}` {{ f.resource }}
{% endfor %}{% for f in resolved %}*RESOLVED* {{ f.title }}
{% endfor %}"#;

/// One line for PagerDuty's `summary` (at most 1024 characters).
pub const SUMMARY: &str = "{% if firing %}{{ firing|length }} firing: {{ firing[0].title }}\
{% if firing|length > 1 %} (and {{ firing|length - 1 }} more){% endif %}{% else %}resolved: {{ resolved[0].title }}{% endif %}";

/// A template: a file's contents, or the default, parsed once (at build).
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    env: std::sync::Arc<minijinja::Environment<'static>>,
}

impl Template {
    fn parse(name: String, source: String) -> Result<Template, minijinja::Error> {
        let mut env = minijinja::Environment::new();
        // the name's extension picks the escaping (`.html` escapes HTML);
        // every value loses its control characters first (a terminal escape
        // in a resource's name must not reach a mail reader or a terminal)
        env.set_formatter(troop_core::template_formatter);
        env.add_template_owned(name.clone(), source)?;
        Ok(Template { name, env: std::sync::Arc::new(env) })
    }

    /// One of the defaults above (they are part of troop: a test renders each).
    pub fn default_named(name: &str, source: &str) -> Template {
        Template::parse(name.to_string(), source.to_string())
            .unwrap_or_else(|e| panic!("default template {name} does not parse: {e}"))
    }

    /// Read and check a template file at build time (a broken one fails the
    /// start, not the first alert).
    pub fn from_file(path: &Path, fallback_name: &str) -> Result<Template, String> {
        let source = std::fs::read_to_string(path).map_err(|e| format!("template {}: {e}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| fallback_name.into());
        Template::parse(name, source).map_err(|e| format!("template {}: {e}", path.display()))
    }

    /// Whether a template file reads and parses (what `from_file` checks at
    /// start; `troop config check` asks the same).
    pub fn check_file(path: &Path) -> Result<(), String> {
        Template::from_file(path, "template").map(|_| ())
    }

    pub fn or_file(path: Option<&Path>, name: &str, default: &str) -> Result<Template, String> {
        match path {
            Some(p) => Template::from_file(p, name),
            None => Ok(Template::default_named(name, default)),
        }
    }

    pub fn render(&self, ctx: &serde_json::Value) -> Result<String, String> {
        self.env
            .get_template(&self.name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| format!("template {}: {e}", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::test_notification;
    use troop_core::alerting::Reason;

    #[test]
    fn defaults_render_the_findings() {
        let mut n = test_notification(Reason::First);
        let mut f = (*n.firing[0]).clone();
        f.title = "<b>sg-1</b> & friends".into();
        f.details = serde_json::json!({"open_rules": ["ingress tcp/22 from 0.0.0.0/0"], "not_after": "2026-02-01", "error": null, "problems": []});
        n.firing = vec![std::sync::Arc::new(f)];
        let ctx = crate::notification_json(&n);
        let subject = Template::default_named("subject", SUBJECT).render(&ctx).unwrap();
        assert_eq!(subject, "[troop] FIRST: 1 firing monkey=security");
        let text = Template::default_named("body.txt", TEXT).render(&ctx).unwrap();
        assert!(text.contains("[CRITICAL] <b>sg-1</b> & friends"), "{text}");
        assert!(text.contains("open_rules: ingress tcp/22 from 0.0.0.0/0"), "{text}");
        assert!(text.contains("not_after: 2026-02-01"), "{text}");
        assert!(!text.contains("error") && !text.contains("problems"), "empty details are left out: {text}");
        let html = Template::default_named("body.html", HTML).render(&ctx).unwrap();
        assert!(html.contains("&lt;b&gt;sg-1&lt;&#x2f;b&gt; &amp; friends"), "{html}");
        let summary = Template::default_named("summary", SUMMARY).render(&ctx).unwrap();
        assert_eq!(summary, "1 firing: <b>sg-1</b> & friends");
    }

    #[test]
    fn a_broken_template_file_fails_at_build() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.txt");
        std::fs::write(&p, "{% for x in %}").unwrap();
        let e = Template::from_file(&p, "x").unwrap_err();
        assert!(e.contains("bad.txt"), "{e}");
        assert!(Template::from_file(&dir.path().join("none.txt"), "x").unwrap_err().contains("none.txt"));
    }
}
