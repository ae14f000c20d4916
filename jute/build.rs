//! Reads `records.jute` and generates, into `OUT_DIR`:
//!
//! * `records.rs`: one struct plus `Record` impl per record, included by
//!   `src/records.rs`;
//! * `records_arb.rs`: a proptest strategy per record, included by the tests
//!   (the library itself never sees proptest);
//! * `records_roundtrip.rs`: one write-then-read property test per record.
//!
//! Generating the tests from the same declarations means a record cannot be
//! added without being round-trip tested.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, multispace1, not_line_ending, satisfy};
use nom::combinator::{all_consuming, cut, map, not, opt, peek, recognize};
use nom::multi::many0;
use nom::sequence::{delimited, pair, preceded, terminated, tuple};
use nom::IResult;

const IDL: &str = "records.jute";

// ---------------------------------------------------------------- model

#[derive(Debug, Clone, PartialEq)]
enum Ty {
    Int,
    Long,
    Bool,
    UString,
    Buffer,
    Vector(Box<Ty>),
    Record(String),
}

#[derive(Debug)]
struct Field {
    docs: Vec<String>,
    ty: Ty,
    name: String,
}

#[derive(Debug)]
struct Rec {
    docs: Vec<String>,
    name: String,
    fields: Vec<Field>,
}

#[derive(Debug)]
struct Module {
    docs: Vec<String>,
    name: String,
    records: Vec<Rec>,
}

// ---------------------------------------------------------------- parser

/// Whitespace and `//` comments, but not `///` doc comments (as in Rust,
/// `////` is an ordinary comment).
fn sp(i: &str) -> IResult<&str, ()> {
    map(
        many0(alt((
            multispace1,
            recognize(pair(tag("////"), not_line_ending)),
            recognize(tuple((tag("//"), not(peek(char('/'))), not_line_ending))),
        ))),
        |_| (),
    )(i)
}

fn doc(i: &str) -> IResult<&str, String> {
    map(
        terminated(
            preceded(
                terminated(tag("///"), not(peek(char('/')))),
                not_line_ending,
            ),
            sp,
        ),
        |s: &str| s.strip_prefix(' ').unwrap_or(s).trim_end().to_string(),
    )(i)
}

fn docs(i: &str) -> IResult<&str, Vec<String>> {
    many0(doc)(i)
}

fn ident(i: &str) -> IResult<&str, &str> {
    terminated(
        recognize(pair(
            satisfy(|c| c.is_ascii_alphabetic() || c == '_'),
            take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
        )),
        sp,
    )(i)
}

fn sym<'a>(s: &'static str) -> impl FnMut(&'a str) -> IResult<&'a str, &'a str> {
    terminated(tag(s), sp)
}

fn keyword<'a>(k: &'static str) -> impl FnMut(&'a str) -> IResult<&'a str, &'a str> {
    terminated(
        terminated(
            tag(k),
            not(peek(take_while1(|c: char| {
                c.is_ascii_alphanumeric() || c == '_'
            }))),
        ),
        sp,
    )
}

fn ty(i: &str) -> IResult<&str, Ty> {
    let (rest, name) = ident(i)?;
    Ok(match name {
        "int" => (rest, Ty::Int),
        "long" => (rest, Ty::Long),
        "boolean" => (rest, Ty::Bool),
        "ustring" => (rest, Ty::UString),
        "buffer" => (rest, Ty::Buffer),
        "vector" => {
            let (rest, inner) = cut(delimited(sym("<"), ty, sym(">")))(rest)?;
            (rest, Ty::Vector(Box::new(inner)))
        }
        other => (rest, Ty::Record(other.to_string())),
    })
}

fn field(i: &str) -> IResult<&str, Field> {
    map(
        tuple((docs, ty, cut(terminated(ident, sym(";"))))),
        |(docs, ty, name)| Field {
            docs,
            ty,
            name: name.to_string(),
        },
    )(i)
}

fn record(i: &str) -> IResult<&str, Rec> {
    map(
        tuple((
            docs,
            preceded(keyword("record"), cut(ident)),
            cut(delimited(sym("{"), many0(field), sym("}"))),
        )),
        |(docs, name, fields)| Rec {
            docs,
            name: name.to_string(),
            fields,
        },
    )(i)
}

fn module(i: &str) -> IResult<&str, Module> {
    map(
        tuple((
            docs,
            preceded(keyword("module"), cut(ident)),
            cut(delimited(sym("{"), many0(record), sym("}"))),
        )),
        |(docs, name, records)| Module {
            docs,
            name: name.to_string(),
            records,
        },
    )(i)
}

fn idl(i: &str) -> IResult<&str, Vec<Module>> {
    all_consuming(preceded(sp, terminated(many0(module), opt(sp))))(i)
}

fn parse(src: &str) -> Vec<Module> {
    match idl(src) {
        Ok((_, modules)) => modules,
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            let offset = src.len() - e.input.len();
            let line = src[..offset].matches('\n').count() + 1;
            let snippet: String = e.input.chars().take(40).collect();
            panic!("{IDL}:{line}: syntax error ({:?}) at {snippet:?}", e.code)
        }
        Err(nom::Err::Incomplete(_)) => panic!("{IDL}: unexpected end of input"),
    }
}

// ---------------------------------------------------------------- checks

const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "crate", "dyn", "else", "enum",
    "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod",
    "move", "mut", "priv", "pub", "ref", "return", "self", "static", "struct", "super", "trait",
    "true", "try", "type", "unsafe", "use", "where", "while", "yield",
];

fn check(modules: &[Module]) {
    let mut names = HashSet::new();
    for m in modules {
        assert!(
            !m.docs.is_empty(),
            "{IDL}: module {} needs a /// doc",
            m.name
        );
        for r in &m.records {
            assert!(
                r.name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase())
                    && !r.name.contains('_'),
                "{IDL}: record name {} must be CamelCase",
                r.name
            );
            assert!(
                names.insert(r.name.clone()),
                "{IDL}: duplicate record {}",
                r.name
            );
            assert!(
                !r.docs.is_empty(),
                "{IDL}: record {} needs a /// doc",
                r.name
            );
            assert!(
                !r.fields.is_empty(),
                "{IDL}: record {} has no fields",
                r.name
            );
            let mut fields = HashSet::new();
            for f in &r.fields {
                assert!(
                    f.name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                        && !RUST_KEYWORDS.contains(&f.name.as_str()),
                    "{IDL}: field {}.{} must be a snake_case non-keyword",
                    r.name,
                    f.name
                );
                assert!(
                    fields.insert(f.name.clone()),
                    "{IDL}: duplicate field {}.{}",
                    r.name,
                    f.name
                );
            }
        }
    }
    // Records may only refer to records declared earlier, which also rules
    // out recursion (a recursive record could not have a finite encoding).
    let mut seen = HashSet::new();
    for r in modules.iter().flat_map(|m| &m.records) {
        for f in &r.fields {
            check_ty(&f.ty, &seen, &r.name, &f.name);
        }
        seen.insert(r.name.clone());
    }
}

fn check_ty(ty: &Ty, seen: &HashSet<String>, rec: &str, field: &str) {
    match ty {
        Ty::Record(name) => assert!(
            seen.contains(name),
            "{IDL}: {rec}.{field}: unknown type {name} (records must be declared before use)"
        ),
        Ty::Vector(inner) => match &**inner {
            Ty::UString => {}
            Ty::Record(_) => check_ty(inner, seen, rec, field),
            other => panic!(
                "{IDL}: {rec}.{field}: vector<{}> is not supported (only ustring or a record)",
                jute_name(other)
            ),
        },
        _ => {}
    }
}

// ---------------------------------------------------------------- codegen

fn jute_name(ty: &Ty) -> String {
    match ty {
        Ty::Int => "int".into(),
        Ty::Long => "long".into(),
        Ty::Bool => "boolean".into(),
        Ty::UString => "ustring".into(),
        Ty::Buffer => "buffer".into(),
        Ty::Vector(inner) => format!("vector<{}>", jute_name(inner)),
        Ty::Record(name) => name.clone(),
    }
}

fn rust_ty(ty: &Ty) -> String {
    match ty {
        Ty::Int => "i32".into(),
        Ty::Long => "i64".into(),
        Ty::Bool => "bool".into(),
        Ty::UString => "::std::string::String".into(),
        Ty::Buffer => "::std::option::Option<::bytes::Bytes>".into(),
        Ty::Vector(inner) => format!("::std::vec::Vec<{}>", rust_ty(inner)),
        Ty::Record(name) => name.clone(),
    }
}

/// Smallest encoding of a value of `ty`, as a Rust constant expression.
fn min_size(ty: &Ty) -> String {
    match ty {
        Ty::Int | Ty::UString | Ty::Buffer | Ty::Vector(_) => "4".into(),
        Ty::Long => "8".into(),
        Ty::Bool => "1".into(),
        Ty::Record(name) => format!("<{name} as crate::codec::Record>::MIN_WIRE_SIZE"),
    }
}

fn write_stmt(ty: &Ty, name: &str) -> String {
    match ty {
        Ty::Int => format!("crate::codec::write_i32(out, self.{name});"),
        Ty::Long => format!("crate::codec::write_i64(out, self.{name});"),
        Ty::Bool => format!("crate::codec::write_bool(out, self.{name});"),
        Ty::UString => format!("crate::codec::write_ustring(out, &self.{name});"),
        Ty::Buffer => format!("crate::codec::write_buffer(out, self.{name}.as_deref());"),
        Ty::Vector(inner) if **inner == Ty::UString => {
            format!("crate::codec::write_ustring_vec(out, &self.{name});")
        }
        Ty::Vector(_) => format!("crate::codec::write_vec(out, &self.{name});"),
        Ty::Record(_) => format!("crate::codec::Record::write(&self.{name}, out);"),
    }
}

fn read_expr(ty: &Ty) -> String {
    match ty {
        Ty::Int => "r.read_i32()".into(),
        Ty::Long => "r.read_i64()".into(),
        Ty::Bool => "r.read_bool()".into(),
        Ty::UString => "r.read_ustring()".into(),
        Ty::Buffer => "r.read_buffer()".into(),
        Ty::Vector(inner) if **inner == Ty::UString => "r.read_ustring_vec()".into(),
        Ty::Vector(inner) => format!("r.read_vec::<{}>()", rust_ty(inner)),
        Ty::Record(name) => format!("<{name} as crate::codec::Record>::read(r)"),
    }
}

fn doc_attrs(out: &mut String, indent: &str, docs: &[String]) {
    for d in docs {
        let line = if d.is_empty() {
            String::new()
        } else {
            format!(" {d}")
        };
        writeln!(out, "{indent}#[doc = {line:?}]").unwrap();
    }
}

fn gen_records(modules: &[Module]) -> String {
    let mut o = String::new();
    writeln!(o, "// @generated by jute/build.rs from {IDL}. Do not edit.").unwrap();
    for m in modules {
        doc_attrs(&mut o, "", &m.docs);
        writeln!(o, "pub mod {} {{", m.name).unwrap();
        writeln!(o, "    #[allow(unused_imports)]\n    use super::*;").unwrap();
        for r in &m.records {
            gen_record(&mut o, r);
        }
        writeln!(o, "}}").unwrap();
        writeln!(o, "pub use self::{}::*;", m.name).unwrap();
    }
    o
}

fn gen_record(o: &mut String, r: &Rec) {
    let layout: Vec<String> = r
        .fields
        .iter()
        .map(|f| format!("{} {};", jute_name(&f.ty), f.name))
        .collect();
    let mut docs = r.docs.clone();
    docs.push(String::new());
    docs.push(format!("Wire layout: `{{ {} }}`", layout.join(" ")));
    writeln!(o).unwrap();
    doc_attrs(o, "    ", &docs);
    writeln!(
        o,
        "    #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]\n    pub struct {} {{",
        r.name
    )
    .unwrap();
    for f in &r.fields {
        let mut docs = f.docs.clone();
        if !docs.is_empty() {
            docs.push(String::new());
        }
        docs.push(format!("Wire type: `{}`.", jute_name(&f.ty)));
        doc_attrs(o, "        ", &docs);
        writeln!(o, "        pub {}: {},", f.name, rust_ty(&f.ty)).unwrap();
    }
    writeln!(o, "    }}").unwrap();

    let min: Vec<String> = r.fields.iter().map(|f| min_size(&f.ty)).collect();
    writeln!(o, "    impl crate::codec::Record for {} {{", r.name).unwrap();
    writeln!(
        o,
        "        const MIN_WIRE_SIZE: usize = {};",
        min.join(" + ")
    )
    .unwrap();
    writeln!(o, "        fn write(&self, out: &mut ::bytes::BytesMut) {{").unwrap();
    for f in &r.fields {
        writeln!(o, "            {}", write_stmt(&f.ty, &f.name)).unwrap();
    }
    writeln!(o, "        }}").unwrap();
    writeln!(
        o,
        "        fn read(r: &mut crate::codec::Reader) -> ::std::result::Result<Self, crate::codec::DecodeError> {{"
    )
    .unwrap();
    // Struct-literal fields are evaluated in the order written: wire order.
    writeln!(o, "            ::std::result::Result::Ok(Self {{").unwrap();
    for f in &r.fields {
        writeln!(
            o,
            "                {}: {}.map_err(|e| e.in_field(\"{}.{}\"))?,",
            f.name,
            read_expr(&f.ty),
            r.name,
            f.name
        )
        .unwrap();
    }
    writeln!(o, "            }})\n        }}\n    }}").unwrap();
}

fn snake(name: &str) -> String {
    let mut s = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

fn arb_expr(ty: &Ty) -> String {
    match ty {
        Ty::Int => "any::<i32>().boxed()".into(),
        Ty::Long => "any::<i64>().boxed()".into(),
        Ty::Bool => "any::<bool>().boxed()".into(),
        Ty::UString => "arb_ustring()".into(),
        Ty::Buffer => "arb_buffer()".into(),
        Ty::Vector(inner) => format!(
            "proptest::collection::vec({}, 0..4).boxed()",
            arb_expr(inner)
        ),
        Ty::Record(name) => format!("arb_{}().boxed()", snake(name)),
    }
}

fn gen_arb(modules: &[Module]) -> String {
    let mut o = String::new();
    writeln!(o, "// @generated by jute/build.rs from {IDL}. Do not edit.").unwrap();
    writeln!(
        o,
        "/// Any valid string, including empty and non-ASCII ones.\n\
         pub fn arb_ustring() -> BoxedStrategy<String> {{ any::<String>().boxed() }}\n\
         /// Null, empty or short buffers.\n\
         pub fn arb_buffer() -> BoxedStrategy<Option<bytes::Bytes>> {{\n    \
         proptest::option::of(proptest::collection::vec(any::<u8>(), 0..24).prop_map(bytes::Bytes::from)).boxed()\n}}"
    )
    .unwrap();
    for r in modules.iter().flat_map(|m| &m.records) {
        // Right-nested pairs avoid proptest's tuple-arity limit.
        let mut strat = String::from("Just(())");
        let mut pat = String::from("()");
        for f in r.fields.iter().rev() {
            strat = format!("({}, {strat})", arb_expr(&f.ty));
            pat = format!("({}, {pat})", f.name);
        }
        let names: Vec<&str> = r.fields.iter().map(|f| f.name.as_str()).collect();
        writeln!(
            o,
            "/// Strategy for [`{name}`].\npub fn arb_{snake}() -> BoxedStrategy<{name}> {{\n    \
             {strat}.prop_map(|{pat}| {name} {{ {fields} }}).boxed()\n}}",
            name = r.name,
            snake = snake(&r.name),
            fields = names.join(", ")
        )
        .unwrap();
    }
    o
}

fn gen_roundtrip(modules: &[Module]) -> String {
    let mut o = String::new();
    writeln!(o, "// @generated by jute/build.rs from {IDL}. Do not edit.").unwrap();
    writeln!(o, "proptest! {{").unwrap();
    for r in modules.iter().flat_map(|m| &m.records) {
        let s = snake(&r.name);
        writeln!(
            o,
            "    #[test]\n    fn roundtrip_{s}(v in arb_{s}()) {{ check_roundtrip(&v)?; }}"
        )
        .unwrap();
    }
    writeln!(o, "}}").unwrap();
    writeln!(
        o,
        "/// Number of records declared in the IDL.\npub const RECORD_COUNT: usize = {};",
        modules.iter().map(|m| m.records.len()).sum::<usize>()
    )
    .unwrap();
    o
}

fn main() {
    println!("cargo:rerun-if-changed={IDL}");
    println!("cargo:rerun-if-changed=build.rs");
    let src = std::fs::read_to_string(IDL).unwrap_or_else(|e| panic!("reading {IDL}: {e}"));
    let modules = parse(&src);
    check(&modules);
    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo");
    let out = Path::new(&out_dir);
    let files: HashMap<&str, String> = [
        ("records.rs", gen_records(&modules)),
        ("records_arb.rs", gen_arb(&modules)),
        ("records_roundtrip.rs", gen_roundtrip(&modules)),
    ]
    .into_iter()
    .collect();
    for (name, text) in files {
        std::fs::write(out.join(name), text).unwrap_or_else(|e| panic!("writing {name}: {e}"));
    }
}
