//! The effective job as text: HCL with `# default` comments, or JSON
//! with the pointers of the defaulted values.

use super::Item;
use serde_json::{Map, Value, json};

/// As HCL, with `# default` after each value that came from a default.
pub fn to_hcl(item: &Item) -> String {
    let mut out = String::new();
    hcl_item(item, 0, &mut out);
    out
}

fn hcl_item(item: &Item, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    match item {
        Item::Attr { key, value, default } => {
            out.push_str(&format!("{pad}{} = {}", hcl_key(key), hcl_value(value)));
            if *default {
                out.push_str(" # default");
            }
            out.push('\n');
        }
        Item::Note(text) => out.push_str(&format!("{pad}# {text}\n")),
        Item::Block { ident, label, items } => {
            let label = label.as_ref().map_or(String::new(), |l| format!(" {}", quote(l)));
            if items.is_empty() {
                out.push_str(&format!("{pad}{ident}{label} {{}}\n"));
                return;
            }
            out.push_str(&format!("{pad}{ident}{label} {{\n"));
            for i in items {
                hcl_item(i, depth + 1, out);
            }
            out.push_str(&format!("{pad}}}\n"));
        }
    }
}

fn hcl_key(k: &str) -> String {
    let ident = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ident { k.to_string() } else { quote(k) }
}

/// A string as HCL writes it: JSON's escapes, and `${` / `%{` kept
/// literal.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default().replace("${", "$${").replace("%{", "%%{")
}

fn hcl_value(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        Value::Array(a) => format!("[{}]", a.iter().map(hcl_value).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => {
            format!(
                "{{ {} }}",
                o.iter().map(|(k, v)| format!("{} = {}", hcl_key(k), hcl_value(v))).collect::<Vec<_>>().join(", ")
            )
        }
        other => other.to_string(),
    }
}

/// As JSON: `{"job": DOCUMENT, "defaults": [POINTER, …]}`. In the
/// document a block is an object of its attributes and nested blocks;
/// blocks that repeat (`group`, `task`, `service`, `check`, `template`,
/// `artifact`, `constraint`, `port`, `mount`) are lists under their
/// plural name (`groups`, `tasks`, …), a labelled one with its label as
/// `name`. `defaults` lists the JSON pointers (RFC 6901) of the values
/// that came from a default. Notes are under `notes` in their block.
pub fn to_json(item: &Item) -> Value {
    let mut defaults = Vec::new();
    let doc = match item {
        Item::Block { label, items, .. } => json_block(label.as_deref(), items, "", &mut defaults),
        other => json_block(None, std::slice::from_ref(other), "", &mut defaults),
    };
    json!({ "job": doc, "defaults": defaults })
}

/// The plural under which a repeating block is listed.
fn plural(ident: &str) -> Option<&'static str> {
    Some(match ident {
        "group" => "groups",
        "task" => "tasks",
        "service" => "services",
        "check" => "checks",
        "template" => "templates",
        "artifact" => "artifacts",
        "constraint" => "constraints",
        "port" => "ports",
        "mount" => "mounts",
        _ => return None,
    })
}

fn json_block(label: Option<&str>, items: &[Item], at: &str, defaults: &mut Vec<String>) -> Value {
    let mut obj = Map::new();
    if let Some(l) = label {
        obj.insert("name".into(), json!(l));
    }
    for item in items {
        match item {
            Item::Attr { key, value, default } => {
                if *default {
                    defaults.push(format!("{at}/{}", pointer_escape(key)));
                }
                obj.insert(key.clone(), value.clone());
            }
            Item::Note(text) => {
                let notes = obj.entry("notes").or_insert_with(|| json!([]));
                if let Value::Array(a) = notes {
                    a.push(json!(text));
                }
            }
            Item::Block { ident, label, items } => match plural(ident) {
                Some(many) => {
                    let n = obj.get(many).and_then(Value::as_array).map_or(0, Vec::len);
                    let child = json_block(label.as_deref(), items, &format!("{at}/{many}/{n}"), defaults);
                    let list = obj.entry(many).or_insert_with(|| json!([]));
                    if let Value::Array(a) = list {
                        a.push(child);
                    }
                }
                None => {
                    let child =
                        json_block(label.as_deref(), items, &format!("{at}/{}", pointer_escape(ident)), defaults);
                    obj.insert(ident.clone(), child);
                }
            },
        }
    }
    Value::Object(obj)
}

fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}
