//! The language of `template` blocks: Go's text/template (parsed by the
//! `gotmpl` crate) with the functions consul-template adds, of which supd
//! renders those that need nothing but this host. Functions that need Consul,
//! Vault or Nomad's variables are refused here, with the reason, so that
//! `supctl validate` reports them instead of a task failing at start.
//!
//! gotmpl's parser accepts a stray `{{end}}` or `{{else}}` at the top level
//! (it stops there and drops the rest) and a block left open at the end of
//! the text; Go's parser refuses both, so [`check`] first matches the block
//! keywords itself.

use gotmpl::parse::{Expr, ListNode, Node, Parser, PipeNode};

/// Functions of Go's text/template itself.
pub const BUILTIN_FUNCS: &[&str] = &[
    "and", "call", "eq", "ge", "gt", "html", "index", "js", "le", "len", "lt", "ne", "not", "or", "print", "printf",
    "println", "slice", "urlquery",
];

/// consul-template's functions that supd renders (taskdir::render has one
/// implementation for each name).
pub const HOST_FUNCS: &[&str] = &[
    "add",
    "base64Decode",
    "base64Encode",
    "base64URLDecode",
    "base64URLEncode",
    "contains",
    "divide",
    "env",
    "envOrDefault",
    "file",
    "indent",
    "join",
    "modulo",
    "multiply",
    "mustEnv",
    "nomadService",
    "nomadServices",
    "nomadVar",
    "nomadVarExists",
    "nomadVarList",
    "nomadVarListSafe",
    "parseBool",
    "parseInt",
    "parseJSON",
    "regexMatch",
    "regexReplaceAll",
    "replaceAll",
    "sha256Hex",
    "sockaddr",
    "split",
    "subtract",
    "timestamp",
    "toJSON",
    "toJSONPretty",
    "toLower",
    "toTitle",
    "toUpper",
    "trimPrefix",
    "trimSpace",
    "trimSuffix",
];

/// go-sockaddr's template functions that `sockaddr` renders (its
/// argument is a template of go-sockaddr's: taskdir's sockaddr module has
/// one implementation for each name).
pub const SOCKADDR_FUNCS: &[&str] = &[
    "Attr",
    "GetAllInterfaces",
    "GetDefaultInterfaces",
    "GetInterfaceIP",
    "GetInterfaceIPs",
    "GetPrivateIP",
    "GetPrivateIPs",
    "GetPrivateInterfaces",
    "GetPublicIP",
    "GetPublicIPs",
    "GetPublicInterfaces",
    "attr",
    "exclude",
    "include",
    "join",
    "limit",
    "offset",
    "sort",
    "unique",
];

const CONSUL_FUNCS: &[&str] = &[
    "caLeaf",
    "caRoots",
    "connect",
    "datacenters",
    "exportedServices",
    "importedServices",
    "key",
    "keyExists",
    "keyOrDefault",
    "ls",
    "node",
    "nodes",
    "partitions",
    "peerings",
    "safeLs",
    "safeTree",
    "service",
    "services",
    "tree",
];

const VAULT_FUNCS: &[&str] = &["pkiCert", "secret", "secrets"];

/// consul-template helpers supd does not render.
const OTHER_FUNCS: &[&str] = &[
    "byKey",
    "byMeta",
    "byPort",
    "byTag",
    "containsAll",
    "containsAny",
    "containsNone",
    "containsNotAll",
    "executeTemplate",
    "explode",
    "explodeMap",
    "hmacSHA256Hex",
    "in",
    "loop",
    "maximum",
    "md5sum",
    "mergeMap",
    "mergeMapWithOverride",
    "minimum",
    "parseFloat",
    "parseUint",
    "parseYAML",
    "plugin",
    "scratch",
    "splitToMap",
    "toTOML",
    "toUnescapedJSON",
    "toUnescapedJSONPretty",
    "toYAML",
    "trim",
    "writeToFile",
];

/// Why a function named in a template cannot be rendered by supd, or `None`
/// when it can.
pub fn refusal(name: &str) -> Option<String> {
    if BUILTIN_FUNCS.contains(&name) || HOST_FUNCS.contains(&name) {
        return None;
    }
    Some(if CONSUL_FUNCS.contains(&name) {
        format!(
            "supd has no Consul: `{name}` cannot be rendered — keep the value in a Nomad Variable (`supctl var put nomad/jobs/JOB KEY=VALUE`, read with nomadVar), write it into the template or the task's env, or use nomadService for supd's own services"
        )
    } else if VAULT_FUNCS.contains(&name) {
        format!(
            "supd has no Vault: `{name}` cannot be rendered — keep the secret in a Nomad Variable (`supctl var put nomad/jobs/JOB KEY=VALUE`, read with nomadVar), or read it from a file on this host with `file`"
        )
    } else if OTHER_FUNCS.contains(&name) || name.starts_with("sprig_") || name.starts_with("spew_") {
        format!(
            "supd does not render the consul-template function `{name}` — supd-job(5) lists the functions it renders"
        )
    } else {
        let all = BUILTIN_FUNCS.iter().chain(HOST_FUNCS).copied();
        match super::diag::did_you_mean(name, all) {
            Some(s) => format!("unknown function `{name}` — did you mean `{s}`?"),
            None => format!("unknown function `{name}` — supd-job(5) lists the functions supd renders"),
        }
    })
}

/// A problem at a 1-based line and column (in characters) of the template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Every problem of one template: its block structure, then its syntax (as
/// gotmpl parses it; only the first syntax error is known), then each
/// function it names that supd cannot render (and in the go-sockaddr
/// template of a `sockaddr` call of literal arguments, each it cannot
/// evaluate).
pub fn check(text: &str, left: &str, right: &str) -> Vec<Problem> {
    problems(text, left, right, false)
}

/// [`check`], and each `file` of a literal path the start would refuse (a
/// job's template, checked where no task directory exists yet; at the
/// start, the task's own absolute path is known and allowed).
pub fn check_job(text: &str, left: &str, right: &str) -> Vec<Problem> {
    problems(text, left, right, true)
}

fn problems(text: &str, left: &str, right: &str, files: bool) -> Vec<Problem> {
    let mut problems = blocks(text, left, right);
    let (list, defines) = match Parser::new(text, left, right).and_then(Parser::parse) {
        Ok(tree) => tree,
        // A block problem is the cause of most parse errors after it.
        Err(_) if !problems.is_empty() => return problems,
        Err(e) => return vec![syntax(e)],
    };
    let mut found = Vec::new();
    walk_list(&list, &mut found);
    for d in &defines {
        walk_list(&d.body, &mut found);
    }
    problems.extend(found.into_iter().filter_map(|(offset, name)| {
        let (line, column) = line_col(text, offset);
        let message = match (name.strip_prefix(FILE_ARG), name.strip_prefix(SOCKADDR_ARG)) {
            (Some(path), _) if files => file_refusal(path),
            (Some(_), _) => None,
            (None, Some(args)) => sockaddr_refusal(args),
            (None, None) => refusal(&name),
        };
        message.map(|message| Problem { line, column, message })
    }));
    problems.sort_by_key(|p| (p.line, p.column));
    problems
}

/// A gotmpl error as a problem; errors without a place are put at 1:1.
pub fn syntax(e: gotmpl::TemplateError) -> Problem {
    match e {
        gotmpl::TemplateError::Parse { line, col, message, .. }
        | gotmpl::TemplateError::Lex { line, col, message, .. } => {
            Problem { line: line.max(1), column: col.max(1), message }
        }
        other => Problem { line: 1, column: 1, message: other.to_string() },
    }
}

/// The 1-based line and character column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let p = super::diag::LineIndex::new(text).pos(offset);
    (p.line, p.column)
}

fn walk_list(list: &ListNode, out: &mut Vec<(usize, String)>) {
    for n in &list.nodes {
        walk_node(n, out);
    }
}

fn walk_node(n: &Node, out: &mut Vec<(usize, String)>) {
    match n {
        Node::List(l) => walk_list(l, out),
        Node::Action(a) => walk_pipe(&a.pipe, out),
        Node::If(b) | Node::Range(b) | Node::With(b) => {
            walk_pipe(&b.pipe, out);
            walk_list(&b.body, out);
            if let Some(e) = &b.else_body {
                walk_list(e, out);
            }
        }
        Node::Template(t) => {
            if let Some(p) = &t.pipe {
                walk_pipe(p, out);
            }
        }
        Node::Define(d) => walk_list(&d.body, out),
        Node::Text(_) | Node::Break(_) | Node::Continue(_) => {}
    }
}

/// Marks a literal path given to `file` among the names [`walk_list`]
/// collects (no function name starts with a NUL).
const FILE_ARG: &str = "\0file:";

/// Marks the literal arguments of a `sockaddr` call, joined by spaces, as
/// [`FILE_ARG`] marks a path.
const SOCKADDR_ARG: &str = "\0sockaddr:";

fn walk_pipe(p: &PipeNode, out: &mut Vec<(usize, String)>) {
    for c in &p.commands {
        if let [Expr::Identifier(_, f), Expr::String(pos, path), ..] = c.args.as_slice()
            && f.as_str() == "file"
        {
            out.push((pos.offset, format!("{FILE_ARG}{path}")));
        }
        if let [Expr::Identifier(_, f), rest @ ..] = c.args.as_slice()
            && f.as_str() == "sockaddr"
            && let Some((offset, args)) = literal_args(rest)
        {
            out.push((offset, format!("{SOCKADDR_ARG}{args}")));
        }
        for a in &c.args {
            walk_expr(a, out);
        }
    }
}

/// The offset of the first of `args` and their texts joined by spaces,
/// when there are some and every one is a string literal.
fn literal_args(args: &[Expr]) -> Option<(usize, String)> {
    let mut texts = Vec::with_capacity(args.len());
    for a in args {
        let Expr::String(_, s) = a else { return None };
        texts.push(&**s);
    }
    let Some(Expr::String(pos, _)) = args.first() else { return None };
    Some((pos.offset, texts.join(" ")))
}

/// Why the go-sockaddr template of a `sockaddr` call cannot be rendered:
/// consul-template evaluates `{{ ARGS }}` (its arguments joined by spaces)
/// with go-sockaddr's functions, of which supd renders SOCKADDR_FUNCS.
fn sockaddr_refusal(args: &str) -> Option<String> {
    let text = format!("{{{{ {args} }}}}");
    if let Some(p) = blocks(&text, "{{", "}}").into_iter().next() {
        return Some(format!("`sockaddr`: its go-sockaddr template does not parse: {}", p.message));
    }
    let (list, defines) = match Parser::new(&text, "{{", "}}").and_then(Parser::parse) {
        Ok(tree) => tree,
        Err(e) => {
            return Some(format!("`sockaddr`: its go-sockaddr template does not parse: {}", syntax(e).message));
        }
    };
    let mut found = Vec::new();
    walk_list(&list, &mut found);
    for d in &defines {
        walk_list(&d.body, &mut found);
    }
    let known = |n: &str| n.starts_with('\0') || SOCKADDR_FUNCS.contains(&n) || BUILTIN_FUNCS.contains(&n);
    let (_, name) = found.into_iter().find(|(_, n)| !known(n.as_str()))?;
    Some(match super::diag::did_you_mean(&name, SOCKADDR_FUNCS.iter().copied()) {
        Some(s) => format!("`sockaddr`: `{name}` is not a go-sockaddr function supd renders — did you mean `{s}`?"),
        None => format!(
            "`sockaddr`: `{name}` is not a go-sockaddr function supd renders — supd-job(5) lists those it renders"
        ),
    })
}

/// Why `file` of this literal path would be refused when the task starts:
/// a template reads files only below the task directory and `alloc/`, as
/// Nomad's template sandbox allows (an absolute path is the task's own
/// only when it names the task directory, which no job file can know).
fn file_refusal(path: &str) -> Option<String> {
    let outside = || {
        Some(format!(
            "`file {path:?}` reads outside the task directory — templates read files only below it and the shared alloc/; use a relative path such as \"local/app.conf\" or \"${{NOMAD_ALLOC_DIR}}/shared.conf\""
        ))
    };
    if path.starts_with('/') {
        return outside();
    }
    match super::taskdir_blocks::destination::destination_place(path) {
        Ok(_) => None,
        Err(_) => outside(),
    }
}

fn walk_expr(e: &Expr, out: &mut Vec<(usize, String)>) {
    match e {
        Expr::Identifier(pos, name) => out.push((pos.offset, name.to_string())),
        Expr::Pipe(_, p) => walk_pipe(p, out),
        Expr::Chain(_, inner, _) => walk_expr(inner, out),
        _ => {}
    }
}

/// Matches `if`/`range`/`with`/`define`/`block` with their `end`, and checks
/// that `else` stands inside `if`, `range` or `with`.
fn blocks(text: &str, left: &str, right: &str) -> Vec<Problem> {
    let mut open: Vec<(&str, usize)> = Vec::new();
    let mut problems = Vec::new();
    for (offset, action) in actions(text, left, right) {
        let word = action.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').next().unwrap_or("");
        let (line, column) = line_col(text, offset);
        let in_branch = matches!(open.last(), Some((k, _)) if matches!(*k, "if" | "range" | "with"));
        let message = match word {
            "if" | "range" | "with" | "define" | "block" => {
                open.push((word, offset));
                continue;
            }
            "else" if !in_branch => format!(
                "unexpected {left}else{right} — it belongs inside {left}if{right}, {left}range{right} or {left}with{right}"
            ),
            "end" if open.pop().is_none() => format!(
                "unexpected {left}end{right} — no {left}if{right}, {left}range{right}, {left}with{right} or {left}define{right} is open here"
            ),
            _ => continue,
        };
        problems.push(Problem { line, column, message });
    }
    for (word, offset) in open {
        let (line, column) = line_col(text, offset);
        problems.push(Problem {
            line,
            column,
            message: format!("{left}{word}{right} is never closed — add {left}end{right} after its body"),
        });
    }
    problems
}

/// The byte offset and trimmed text of each action, comments skipped. A
/// right delimiter inside a quoted string does not end an action, as in
/// Go's lexer. An action left open is the parser's to report.
fn actions<'t>(text: &'t str, left: &str, right: &str) -> Vec<(usize, &'t str)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(found) = text[i..].find(left) {
        let start = i + found;
        let mut body = start + left.len();
        if text[body..].starts_with("- ") {
            body += 2;
        }
        let Some(end) = action_end(text, body, right) else { break };
        let inner = text[body..end].trim_end_matches(|c: char| c == '-' || c.is_whitespace()).trim_start();
        if !inner.starts_with("/*") {
            out.push((body + (text[body..end].len() - text[body..end].trim_start().len()), inner));
        }
        i = end + right.len();
    }
    out
}

fn action_end(text: &str, from: usize, right: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < text.len() {
        if text[i..].starts_with(right) {
            return Some(i);
        }
        match bytes[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < text.len() && bytes[i] != q && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < text.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'/' if text[i..].starts_with("/*") => {
                i = text[i..].find("*/").map_or(text.len(), |e| i + e + 1);
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(text: &str) -> Vec<String> {
        check_job(text, "{{", "}}").into_iter().map(|p| format!("{}:{} {}", p.line, p.column, p.message)).collect()
    }

    #[test]
    fn valid_templates_have_no_problems() {
        for t in [
            "plain text",
            "{{ env \"HOME\" }}",
            "{{ if eq 1 1 }}a{{ else if eq 2 2 }}b{{ else }}c{{ end }}",
            "{{ range $i, $s := nomadServices }}{{ $s.Name }}{{ end }}",
            "{{ with parseJSON `{\"a\": 1}` }}{{ .a }}{{ end }}",
            "{{/* a comment with }} inside? no: {{end}} */}}x",
            "{{ \"}}\" }}{{ define \"t\" }}{{ . }}{{ end }}{{ template \"t\" 1 }}",
            "{{- env \"A\" -}}",
        ] {
            assert_eq!(messages(t), Vec::<String>::new(), "{t}");
        }
    }

    /// `file` of a literal path outside the task directory is what the
    /// start would refuse: validation says so at its place.
    #[test]
    fn file_outside_the_task_directory_is_refused_at_its_place() {
        let m = messages("a={{ file \"/etc/shadow\" }}");
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].starts_with("1:11 `file \"/etc/shadow\"` reads outside the task directory"), "{m:?}");
        assert_eq!(messages("{{ \"x\" | printf \"%s\" }}{{ file \"../../../etc/passwd\" }}").len(), 1);
        for ok in ["{{ file \"local/a.conf\" }}", "{{ file \"${NOMAD_ALLOC_DIR}/b\" }}", "{{ file \"../alloc/c\" }}"] {
            assert_eq!(messages(ok), Vec::<String>::new(), "{ok}");
        }
    }

    #[test]
    fn block_structure_problems_have_their_place() {
        assert_eq!(
            messages("a\n{{ end }}"),
            ["2:4 unexpected {{end}} — no {{if}}, {{range}}, {{with}} or {{define}} is open here"]
        );
        assert_eq!(messages("x{{ range .a }}"), ["1:5 {{range}} is never closed — add {{end}} after its body"]);
        assert_eq!(
            messages("{{ else }}"),
            ["1:4 unexpected {{else}} — it belongs inside {{if}}, {{range}} or {{with}}"]
        );
    }

    #[test]
    fn syntax_errors_come_from_the_parser_with_line_and_column() {
        assert_eq!(messages("ok\n  {{ .X"), ["2:8 unclosed action"]);
        assert_eq!(messages("{{ if }}{{ end }}"), ["1:9 empty command"]);
    }

    #[test]
    fn refused_functions_say_why() {
        assert_eq!(
            messages("a {{ key \"x\" }}\n{{ secret \"s\" | toJSON }}"),
            [
                "1:6 supd has no Consul: `key` cannot be rendered — keep the value in a Nomad Variable (`supctl var put nomad/jobs/JOB KEY=VALUE`, read with nomadVar), write it into the template or the task's env, or use nomadService for supd's own services",
                "2:4 supd has no Vault: `secret` cannot be rendered — keep the secret in a Nomad Variable (`supctl var put nomad/jobs/JOB KEY=VALUE`, read with nomadVar), or read it from a file on this host with `file`",
            ]
        );
        let m = messages("{{ with nomadVar \"a\" }}{{ end }}{{ toYAML 1 }}{{ envv \"A\" }}");
        // nomadVar is rendered (Nomad Variables on this host).
        assert!(m[0].starts_with("1:36 supd does not render the consul-template function `toYAML`"), "{m:?}");
        assert_eq!(m[1], "1:50 unknown function `envv` — did you mean `env`?");
        // Inside parentheses and a define body too.
        assert_eq!(messages("{{ define \"d\" }}{{ (keyOrDefault \"a\" \"b\") }}{{ end }}").len(), 1);
    }

    /// `sockaddr` renders (its template of go-sockaddr's is checked too):
    /// the Ceph demo's template of Nomad's repository validates; a function
    /// go-sockaddr's template would not know, or one supd does not
    /// render, and a template that does not parse are refused at the
    /// argument, naming `sockaddr`.
    #[test]
    fn sockaddr_templates_are_checked_inside() {
        let ceph = r#"MON_IP={{ sockaddr "with $ifAddrs := GetDefaultInterfaces | include \"type\" \"IPv4\" | limit 1 -}}{{- range $ifAddrs -}}{{ attr \"address\" . }}{{ end }}{{ end " }}"#;
        assert_eq!(messages(ceph), Vec::<String>::new());
        for ok in [
            "{{ sockaddr \"GetPrivateIP\" }}",
            "{{ sockaddr \"GetAllInterfaces | include \\\"name\\\" \\\"^eth\\\" | sort \\\"address\\\" | join \\\"address\\\" \\\",\\\"\" }}",
            "{{ sockaddr \"GetInterfaceIP\" \"\\\"eth0\\\"\" }}",
        ] {
            assert_eq!(messages(ok), Vec::<String>::new(), "{ok}");
        }
        assert_eq!(
            messages("a {{ sockaddr \"GetPrivateInterfaces | math \\\"address\\\" \\\"+1\\\"\" }}"),
            ["1:15 `sockaddr`: `math` is not a go-sockaddr function supd renders — supd-job(5) lists those it renders"]
        );
        assert_eq!(
            messages("{{ sockaddr \"GetPrivateIp\" }}"),
            [
                "1:13 `sockaddr`: `GetPrivateIp` is not a go-sockaddr function supd renders — did you mean `GetPrivateIP`?"
            ]
        );
        let m = messages("{{ sockaddr \"GetAllInterfaces | limit 1 }}{{ end\" }}");
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].starts_with("1:13 `sockaddr`: its go-sockaddr template does not parse: "), "{m:?}");
        // An argument worked out at the render is not checked here.
        assert_eq!(messages("{{ sockaddr (env \"Q\") }}{{ \"GetPrivateIP\" | sockaddr }}"), Vec::<String>::new());
    }

    #[test]
    fn other_delimiters() {
        assert_eq!(check("{{ raw }} [[ env \"A\" ]]", "[[", "]]"), vec![]);
        assert_eq!(messages_with("[[ key \"a\" ]]", "[[", "]]")[0].line, 1);
        assert_eq!(
            messages_with("[[ end ]]", "[[", "]]")[0].message,
            "unexpected [[end]] — no [[if]], [[range]], [[with]] or [[define]] is open here"
        );
    }

    fn messages_with(t: &str, l: &str, r: &str) -> Vec<Problem> {
        check(t, l, r)
    }
}
