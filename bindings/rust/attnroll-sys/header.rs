// A small parser of include/attnroll.h, shared by build.rs (which generates
// typed checks of every declaration) and tests/header.rs (which compares the
// header with src/lib.rs).  It understands exactly the subset of C the header
// uses: `#define ATTNROLL_*` constants and `ATTNROLL_API` function
// declarations whose parameters are scalars and pointers.
#![allow(dead_code)]

/// Macros in the header that are not constants and have no Rust counterpart.
pub const NOT_CONSTANTS: &[&str] = &["ATTNROLL_H", "ATTNROLL_API"];

/// A `#define ATTNROLL_* value` constant.
#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    pub name: String,
    /// The replacement text, whitespace-normalised.
    pub value: String,
    /// The Rust type it maps to: `&str` for a string literal, `i32` otherwise.
    pub rust_type: &'static str,
}

/// An `ATTNROLL_API` function declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub name: String,
    /// C types, normalised ("const attnroll_tensor *").
    pub c_ret: String,
    pub c_params: Vec<String>,
    /// The same mapped to Rust ("*const attnroll_tensor"); "()" for void.
    pub ret: String,
    pub params: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Header {
    pub constants: Vec<Constant>,
    pub functions: Vec<Function>,
    /// `typedef struct NAME NAME;` / `typedef struct NAME {...} NAME;` names.
    pub structs: Vec<String>,
}

/// Removes comments (keeping string literals) and joins continued lines.
fn strip_comments(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == '"' {
            out.push(c);
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' && i + 1 < b.len() {
                    out.push(b[i]);
                    i += 1;
                }
                out.push(b[i]);
                i += 1;
            }
            if i < b.len() {
                out.push('"');
                i += 1;
            }
        } else if c == '/' && i + 1 < b.len() && b[i + 1] == '*' {
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                if b[i] == '\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 2;
            out.push(' ');
        } else if c == '/' && i + 1 < b.len() && b[i + 1] == '/' {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out.replace("\\\r\n", " ").replace("\\\n", " ")
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits a C declarator into identifiers and `*`.
fn c_tokens(s: &str) -> Vec<String> {
    let mut toks = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        if is_ident_char(c) {
            cur.push(c);
        } else {
            if !cur.is_empty() {
                toks.push(std::mem::take(&mut cur));
            }
            if c == '*' {
                toks.push("*".to_string());
            }
        }
    }
    if !cur.is_empty() {
        toks.push(cur);
    }
    toks
}

const QUALIFIERS: &[&str] = &["const", "volatile", "unsigned", "signed", "long", "short", "struct"];

/// "const attnroll_tensor *layers" -> "const attnroll_tensor *" (drops the name).
fn param_type(param: &str) -> String {
    let mut toks = c_tokens(param);
    if toks.len() >= 2 {
        let last = &toks[toks.len() - 1];
        let prev = &toks[toks.len() - 2];
        if last != "*" && (prev == "*" || !QUALIFIERS.contains(&prev.as_str())) {
            toks.pop();
        }
    }
    normalise_type(&toks)
}

fn normalise_type(toks: &[String]) -> String {
    let mut out = String::new();
    for t in toks {
        if t == "*" {
            out.push_str(if out.ends_with('*') { "*" } else { " *" });
        } else {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(t);
        }
    }
    out.trim().to_string()
}

/// Maps a normalised C type to the Rust type the -sys crate must use:
/// int32_t -> i32, int64_t -> i64, double -> f64, char -> c_char, void -> ()
/// (or c_void behind a pointer), attnroll_* structs by name, and each `*` to
/// `*const` when what it points to is const, else `*mut`.
pub fn rust_type(c: &str, structs: &[String]) -> Result<String, String> {
    let toks = c_tokens(c);
    // Split into the base (before the first '*') and the pointer levels.
    let first_star = toks.iter().position(|t| t == "*").unwrap_or(toks.len());
    let base_toks = &toks[..first_star];
    let base_const = base_toks.iter().any(|t| t == "const");
    let base: Vec<&str> = base_toks
        .iter()
        .map(|s| s.as_str())
        .filter(|t| *t != "const" && *t != "volatile" && *t != "struct")
        .collect();
    let base = base.join(" ");
    // The const-ness of what each pointer level points to.
    let mut pointee_const = vec![base_const];
    let mut i = first_star;
    while i < toks.len() {
        if toks[i] != "*" {
            return Err(format!("unexpected token `{}` in C type `{}`", toks[i], c));
        }
        let mut konst = false;
        i += 1;
        while i < toks.len() && toks[i] != "*" {
            if toks[i] == "const" {
                konst = true;
            } else if toks[i] != "volatile" {
                return Err(format!("unexpected token `{}` in C type `{}`", toks[i], c));
            }
            i += 1;
        }
        pointee_const.push(konst);
    }
    let levels = pointee_const.len() - 1;
    let mut rust = match base.as_str() {
        "int32_t" => "i32".to_string(),
        "int64_t" => "i64".to_string(),
        "uint16_t" => "u16".to_string(),
        "double" => "f64".to_string(),
        "float" => "f32".to_string(),
        "size_t" => "usize".to_string(),
        "char" => "c_char".to_string(),
        "void" if levels == 0 => "()".to_string(),
        "void" => "c_void".to_string(),
        s if structs.iter().any(|n| n == s) => s.to_string(),
        s => return Err(format!("no Rust mapping for the C type `{}` (in `{}`)", s, c)),
    };
    for &konst in pointee_const.iter().take(levels) {
        rust = format!("{} {}", if konst { "*const" } else { "*mut" }, rust);
    }
    Ok(rust)
}

/// Parses the header text.
pub fn parse(text: &str) -> Result<Header, String> {
    let clean = strip_comments(text);
    let mut header = Header::default();
    let mut code = String::new();
    for line in clean.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix('#') {
            let rest = rest.trim_start();
            if let Some(def) = rest.strip_prefix("define") {
                let def = def.trim();
                let name: String = def.chars().take_while(|c| is_ident_char(*c)).collect();
                if !name.starts_with("ATTNROLL_") || NOT_CONSTANTS.contains(&name.as_str()) {
                    continue;
                }
                let after = &def[name.len()..];
                if after.starts_with('(') {
                    return Err(format!("function-like macro {} has no Rust mapping", name));
                }
                let value = squash(after);
                if value.is_empty() {
                    return Err(format!(
                        "macro {} has no value; if it is not a constant, add it to NOT_CONSTANTS in header.rs",
                        name
                    ));
                }
                let rust_type = if value.starts_with('"') { "&str" } else { "i32" };
                if let Some(old) = header.constants.iter().find(|c| c.name == name) {
                    if old.value != value {
                        return Err(format!("{} is defined twice with different values", name));
                    }
                    continue;
                }
                header.constants.push(Constant { name, value, rust_type });
            }
            continue;
        }
        code.push_str(line);
        code.push('\n');
    }
    let code = squash(&code);
    // Struct names (needed before mapping types).
    let mut rest = code.as_str();
    while let Some(pos) = rest.find("typedef struct ") {
        let after = &rest[pos + "typedef struct ".len()..];
        let name: String = after.chars().take_while(|c| is_ident_char(*c)).collect();
        if !name.is_empty() && !header.structs.contains(&name) {
            header.structs.push(name);
        }
        rest = after;
    }
    // Function declarations.
    let mut rest = code.as_str();
    while let Some(pos) = rest.find("ATTNROLL_API") {
        let after = &rest[pos + "ATTNROLL_API".len()..];
        let end = after
            .find(';')
            .ok_or_else(|| "an ATTNROLL_API declaration has no `;`".to_string())?;
        let decl = after[..end].trim();
        rest = &after[end..];
        let open = decl
            .find('(')
            .ok_or_else(|| format!("cannot parse the declaration `{}`", decl))?;
        let close = decl
            .rfind(')')
            .ok_or_else(|| format!("cannot parse the declaration `{}`", decl))?;
        let head = decl[..open].trim_end();
        let name: String = {
            let rev: String = head.chars().rev().take_while(|c| is_ident_char(*c)).collect();
            rev.chars().rev().collect()
        };
        if name.is_empty() {
            return Err(format!("no function name in `{}`", decl));
        }
        let c_ret = normalise_type(&c_tokens(&head[..head.len() - name.len()]));
        let inner = decl[open + 1..close].trim();
        let c_params: Vec<String> = if inner.is_empty() || inner == "void" {
            Vec::new()
        } else {
            inner.split(',').map(param_type).collect()
        };
        let ret = rust_type(&c_ret, &header.structs).map_err(|e| format!("{}: return type: {}", name, e))?;
        let mut params = Vec::new();
        for (i, p) in c_params.iter().enumerate() {
            params.push(rust_type(p, &header.structs).map_err(|e| format!("{}: parameter {}: {}", name, i, e))?);
        }
        header.functions.push(Function {
            name,
            c_ret,
            c_params,
            ret,
            params,
        });
    }
    if header.functions.is_empty() {
        return Err("no ATTNROLL_API function declarations found".to_string());
    }
    Ok(header)
}
