'use strict';
// julia_lint: name checks on the parsed Julia package, for code that no Julia
// runs here.  Reports FILE:LINE:COLUMN for
//   1. a function or macro called by a bare name that nothing defines: not a
//      function, const, struct, macro or variable of the package or test files,
//      not a parameter or other local binding, not exported by the package to
//      the tests, and not a Julia name listed in julia-names.txt (Base, Core
//      and the standard libraries the package and tests use);
//   2. an identifier starting with `_` that nothing in the package binds (a
//      mistyped helper);
//   3. an attnroll_* / ATTNROLL_* name that LibAttnRoll.jl does not define;
//   4. an exported name that the module's file does not define;
//   5. AttnRoll.X / LibAttnRoll.X naming nothing the package defines;
//   6. a call to a function of the package or the tests that no method of it
//      accepts: the wrong number of positional arguments or a keyword that no
//      method with that many takes (a MethodError when Julia runs it).
//
//   node lint.js --modules DIR --package bindings/julia/AttnRoll [--names FILE]
const fs = require('fs');
const path = require('path');
const { loadJulia, syntaxProblems } = require('./ts');

const UNWRAP = new Set(['where_expression', 'typed_expression']);

function unwrapSignature(node) {
  while (node && UNWRAP.has(node.type)) node = node.namedChild(0);
  return node;
}

// Identifiers a pattern binds: a, (a, b), a::T, a = default, a..., ::T (none).
function bindingNames(node, out) {
  if (!node) return out;
  switch (node.type) {
    case 'identifier':
      out.push(node);
      break;
    case 'typed_expression':
    case 'named_argument':
    case 'splat_expression':
    case 'let_binding':
      bindingNames(node.namedChild(0), out);
      break;
    case 'tuple_expression':
    case 'open_tuple':
    case 'argument_list':
    case 'parenthesized_expression':
      for (let i = 0; i < node.namedChildCount; i++) bindingNames(node.namedChild(i), out);
      break;
    default:
      break;
  }
  return out;
}

// The parameters of a definition's argument list: positional counts and
// keyword names.  A `;` (an unnamed child) separates the keywords.
function parameters(args) {
  const sig = { min: 0, max: 0, kws: new Set(), anyKw: false };
  let keywords = false;
  for (const c of args.children) {
    if (!c.isNamed) {
      if (c.type === ';') keywords = true;
      continue;
    }
    if (!keywords) {
      if (c.type === 'named_argument') sig.max++;
      else if (c.type === 'splat_expression') sig.max = Infinity;
      else { sig.min++; sig.max++; }
    } else if (c.type === 'splat_expression') {
      sig.anyKw = true;
    } else {
      const id = bindingNames(c, [])[0];
      if (id) sig.kws.add(id.text);
    }
  }
  return sig;
}

// What a call passes: positional count (null if it splats) and keyword names
// (null if it splats keywords).
function callArguments(call) {
  const args = call.namedChildren.find((c) => c.type === 'argument_list');
  const out = { count: 0, kws: new Set() };
  if (!args) return out;
  let keywords = false;
  for (const c of args.children) {
    if (!c.isNamed) {
      if (c.type === ';') keywords = true;
      continue;
    }
    if (c.type === 'named_argument') {
      const id = c.namedChild(0);
      if (id) out.kws.add(id.text);
    } else if (keywords) {
      if (c.type === 'splat_expression') out.kws = null;
      else if (c.type === 'identifier' && out.kws) out.kws.add(c.text);
    } else if (c.type === 'splat_expression') {
      out.count = null;
    } else if (out.count !== null) {
      out.count++;
    }
  }
  if (out.count !== null && call.namedChildren.some((c) => c.type === 'do_clause')) out.count++;
  return out;
}

// Inside `@test_throws MethodError ...` a call is meant not to fit.
function expectsMethodError(node) {
  for (let p = node.parent; p; p = p.parent) {
    if (p.type === 'macrocall_expression') {
      const id = p.namedChildren.find((c) => c.type === 'macro_identifier');
      const args = p.namedChildren.find((c) => c.type === 'macro_argument_list');
      if (id && id.text === '@test_throws' && args && args.namedChild(0) &&
          args.namedChild(0).text === 'MethodError') {
        return true;
      }
    }
  }
  return false;
}

class FileInfo {
  constructor(file, tree) {
    this.file = file;
    this.tree = tree;
    this.sigs = new Map();      // name -> [parameters] of its methods (unqualified definitions)
    this.defs = new Map();      // name -> node: functions, consts, structs, macros, modules
    this.bound = new Set();     // every name bound anywhere (defs, variables, parameters, imports)
    this.defCalls = new Set();  // ids of call_expression nodes that are definition signatures
    this.exports = [];          // identifier nodes
    this.usings = [];           // text of using/import statements
    this.collect(tree.rootNode);
  }

  def(node) {
    if (node && node.type === 'identifier') {
      this.defs.set(node.text, node);
      this.bound.add(node.text);
    }
  }

  bind(pattern) {
    for (const id of bindingNames(pattern, [])) this.bound.add(id.text);
  }

  signature(sig) {
    const call = unwrapSignature(sig);
    if (!call || call.type !== 'call_expression') return false;
    this.defCalls.add(call.id);
    const callee = call.namedChild(0);
    if (callee.type === 'identifier') this.def(callee);
    for (let i = 1; i < call.namedChildCount; i++) {
      const c = call.namedChild(i);
      if (c.type === 'argument_list') {
        this.bind(c);
        if (callee.type === 'identifier') {
          if (!this.sigs.has(callee.text)) this.sigs.set(callee.text, []);
          this.sigs.get(callee.text).push(parameters(c));
        }
      }
    }
    return true;
  }

  collect(node) {
    switch (node.type) {
      case 'function_definition':
      case 'macro_definition': {
        const sig = node.namedChildren.find((c) => c.type === 'signature');
        if (sig) this.signature(sig.namedChild(0));
        break;
      }
      case 'assignment': {
        const lhs = node.namedChild(0);
        if (!this.signature(lhs)) {
          const target = unwrapSignature(lhs);
          if (target && target.type === 'identifier' && node.parent &&
              node.parent.type === 'const_statement') {
            this.def(target);
          } else if (target && target.type === 'identifier' && node.parent &&
                     node.parent.type === 'source_file') {
            this.def(target);
          } else {
            this.bind(lhs);
          }
        }
        break;
      }
      case 'struct_definition': {
        const head = node.namedChildren.find((c) => c.type === 'type_head');
        let name = head && head.namedChild(0);
        if (name && name.type === 'binary_expression') name = name.namedChild(0);  // S <: T
        if (name && name.type === 'parametrized_type_expression') name = name.namedChild(0);
        this.def(name);
        // the default constructor, unless an inner constructor replaces it
        const fields = node.namedChildren.filter((c) => c.type === 'identifier' || c.type === 'typed_expression');
        const inner = node.namedChildren.some((c) => c.type === 'function_definition' ||
                                                     (c.type === 'assignment' && c.namedChild(0).type === 'call_expression'));
        if (name && name.type === 'identifier' && !inner) {
          if (!this.sigs.has(name.text)) this.sigs.set(name.text, []);
          this.sigs.get(name.text).push({ min: fields.length, max: fields.length, kws: new Set(), anyKw: false });
        }
        break;
      }
      case 'module_definition':
        this.def(node.childForFieldName('name') || node.namedChild(0));
        break;
      case 'for_binding':
        this.bind(node.namedChild(0));
        break;
      case 'arrow_function_expression':
        this.bind(node.namedChild(0));
        break;
      case 'do_clause': {
        const args = node.namedChildren.find((c) => c.type === 'argument_list');
        if (args) this.bind(args);
        break;
      }
      case 'catch_clause': {
        const v = node.namedChild(0);
        if (v && v.type === 'identifier' && v.startPosition.row === node.startPosition.row) this.bind(v);
        break;
      }
      case 'let_statement':
        for (const c of node.namedChildren) {
          if (c.type === 'let_binding' || c.type === 'identifier') this.bind(c);
        }
        break;
      case 'using_statement':
      case 'import_statement':
        this.usings.push(node.text);
        for (const id of node.descendantsOfType('identifier')) this.bound.add(id.text);
        break;
      case 'export_statement':
        for (const c of node.namedChildren) if (c.type === 'identifier') this.exports.push(c);
        break;
      default:
        break;
    }
    for (let i = 0; i < node.namedChildCount; i++) this.collect(node.namedChild(i));
  }

  // calls by a bare name or as Mod.name: [{node, name, call}]
  calls() {
    const out = [];
    for (const type of ['call_expression', 'broadcast_call_expression']) {
      for (const call of this.tree.rootNode.descendantsOfType(type)) {
        if (this.defCalls.has(call.id)) continue;
        let callee = call.namedChild(0);
        let module = null;
        if (callee && callee.type === 'field_expression') {
          const value = callee.namedChild(0);
          module = value.type === 'field_expression' ? value.namedChild(1).text : value.text;
          callee = callee.namedChild(1);
        }
        if (callee && callee.type === 'identifier' && !expectsMethodError(call)) {
          out.push({ node: callee, name: callee.text, call, module });
        }
      }
    }
    return out;
  }

  // bare-name calls and macro uses: [{node, name, kind}]
  uses() {
    const out = [];
    const walk = (node) => {
      if ((node.type === 'call_expression' || node.type === 'broadcast_call_expression') &&
          !this.defCalls.has(node.id)) {
        const callee = node.namedChild(0);
        if (callee && callee.type === 'identifier') out.push({ node: callee, name: callee.text, kind: 'call' });
      } else if (node.type === 'macro_identifier') {
        // Mod.@name: the macrocall's first child is the module, before the macro_identifier
        const id = node.namedChild(0);
        const call = node.parent;
        const first = call && call.type === 'macrocall_expression' ? call.namedChild(0) : null;
        const module = first && first.id !== node.id ? first.text + '.' : '';
        if (id) out.push({ node: id, name: module + '@' + id.text, kind: 'macro' });
      }
      for (let i = 0; i < node.namedChildCount; i++) walk(node.namedChild(i));
    };
    walk(this.tree.rootNode);
    return out;
  }

  identifiers() {
    return this.tree.rootNode.descendantsOfType('identifier');
  }

  // X.Y where X is one of `modules`: [{node, module, name}]
  qualified(modules) {
    const out = [];
    for (const fe of this.tree.rootNode.descendantsOfType('field_expression')) {
      const value = fe.namedChild(0);
      const field = fe.namedChild(1);
      if (!value || !field) continue;
      let mod = value.text;
      if (value.type === 'field_expression') mod = value.namedChild(1) && value.namedChild(1).text;
      if (modules.includes(mod) && (value.type === 'identifier' || value.type === 'field_expression')) {
        let name = field.type === 'identifier' ? field.text : null;
        if (field.type === 'macro_identifier' && field.namedChild(0)) name = field.namedChild(0).text;
        if (name) out.push({ node: field, module: mod, name });
      }
    }
    return out;
  }
}

function readNames(file) {
  const names = new Set();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const t = line.replace(/#.*/, '').trim();
    if (t) for (const w of t.split(/\s+/)) names.add(w);
  }
  return names;
}

function lintPackage(parser, pkg, namesFile, fileOverride = {}) {
  const read = (rel) => {
    const file = path.join(pkg, rel);
    const text = fileOverride[rel] !== undefined ? fileOverride[rel] : fs.readFileSync(file, 'utf8');
    const tree = parser.parse(text);
    return { file, tree, text };
  };
  const lib = read('src/LibAttnRoll.jl');
  const main = read('src/AttnRoll.jl');
  const tests = read('test/runtests.jl');
  const problems = [];
  const at = (f, node, what) => problems.push(
    `${f.file}:${node.startPosition.row + 1}:${node.startPosition.column + 1}: ${what}`);

  for (const f of [lib, main, tests]) {
    for (const p of syntaxProblems(f.tree)) problems.push(`${f.file}:${p.line}:${p.column}: ${p.what}`);
  }
  if (problems.length) return problems;  // names mean little in a file that does not parse

  const known = readNames(namesFile);
  const L = new FileInfo(lib.file, lib.tree);
  const M = new FileInfo(main.file, main.tree);
  const T = new FileInfo(tests.file, tests.tree);
  const pkgBound = new Set([...L.bound, ...M.bound]);
  const libDefs = L.defs;
  const mainDefs = new Map([...M.defs, ...L.defs]);  // `using .LibAttnRoll` brings them in
  const mainExports = new Set(M.exports.map((e) => e.text));
  const libExports = new Set(L.exports.map((e) => e.text));
  const testsUseLib = T.usings.some((u) => /LibAttnRoll/.test(u));

  // 4. exports are defined
  for (const e of L.exports) if (!L.defs.has(e.text)) at(lib, e, `exports ${e.text}, which LibAttnRoll.jl does not define`);
  for (const e of M.exports) if (!M.defs.has(e.text)) at(main, e, `exports ${e.text}, which AttnRoll.jl does not define`);

  // 1. calls and macros
  const check = (f, info, visible) => {
    for (const u of info.uses()) {
      if (info.bound.has(u.name) || visible.has(u.name) || known.has(u.name)) continue;
      at(f, u.node, `${u.kind === 'macro' ? 'macro ' : 'function '}${u.name} is not defined here, ` +
                    'not exported by the package, and not a known Julia name (julia-names.txt)');
    }
  };
  check(lib, L, new Set());
  check(main, M, new Set([...pkgBound]));
  const testVisible = new Set([...mainExports, ...(testsUseLib ? libExports : [])]);
  check(tests, T, testVisible);

  // 2. underscore names in the package
  for (const [f, info] of [[lib, L], [main, M]]) {
    for (const id of info.identifiers()) {
      if (id.text.length > 1 && id.text.startsWith('_') && !pkgBound.has(id.text)) {
        at(f, id, `${id.text} is not defined in the package`);
      }
    }
  }

  // 3. C-level names
  for (const [f, info] of [[main, M], [tests, T], [lib, L]]) {
    for (const id of info.identifiers()) {
      if (/^(attnroll_|ATTNROLL_)/.test(id.text) && !libDefs.has(id.text)) {
        const parent = id.parent;
        if (info === T && !testsUseLib && !(parent && parent.type === 'field_expression')) {
          at(f, id, `${id.text} is used unqualified but the tests do not load LibAttnRoll's names`);
        } else if (!libDefs.has(id.text)) {
          at(f, id, `${id.text} is not defined in LibAttnRoll.jl`);
        }
      }
    }
  }

  // 5. qualified names
  for (const [f, info] of [[main, M], [tests, T]]) {
    for (const q of info.qualified(['AttnRoll', 'LibAttnRoll'])) {
      const defs = q.module === 'LibAttnRoll' ? libDefs : mainDefs;
      const alsoModules = q.module === 'AttnRoll' ? ['LibAttnRoll'] : [];
      if (!defs.has(q.name) && !alsoModules.includes(q.name)) {
        at(f, q.node, `${q.module}.${q.name} is not defined in the package`);
      }
    }
  }
  // 6. arity and keywords of calls to the package's and the tests' own functions,
  // each resolved where Julia would: LibAttnRoll's names in LibAttnRoll.jl;
  // AttnRoll's and LibAttnRoll's in AttnRoll.jl (`using .LibAttnRoll`); in the
  // tests their own functions and the names the package exports to them.
  const merge = (...maps) => {
    const out = new Map();
    for (const m of maps) for (const [k, v] of m) out.set(k, (out.get(k) || []).concat(v));
    return out;
  };
  const only = (map, names) => new Map([...map].filter(([k]) => names.has(k)));
  const libSigs = L.sigs;
  const pkgSigs = merge(M.sigs, L.sigs);
  const scope = new Map([
    [L, libSigs],
    [M, pkgSigs],
    [T, merge(T.sigs, only(M.sigs, mainExports), testsUseLib ? only(L.sigs, libExports) : new Map())],
  ]);
  for (const [f, info] of [[lib, L], [main, M], [tests, T]]) {
    for (const c of info.calls()) {
      let methods;
      if (c.module === null) methods = scope.get(info).get(c.name);
      else if (c.module === 'AttnRoll') methods = pkgSigs.get(c.name);
      else if (c.module === 'LibAttnRoll') methods = libSigs.get(c.name);
      if (!methods) continue;
      const got = callArguments(c.call);
      if (got.count === null) continue;
      problems.checkedCalls = (problems.checkedCalls || 0) + 1;
      const fits = methods.filter((m) => m.min <= got.count && got.count <= m.max);
      const ok = fits.some((m) => got.kws === null || m.anyKw || [...got.kws].every((k) => m.kws.has(k)));
      if (!ok) {
        const kws = got.kws && got.kws.size ? `; ${[...got.kws].join(', ')}` : '';
        const have = methods.map((m) => `${m.min}${m.max === m.min ? '' : '..' + (m.max === Infinity ? '' : m.max)}` +
                                        (m.anyKw ? '; any keyword' : m.kws.size ? `; ${[...m.kws].join(', ')}` : ''));
        at(f, c.node, `no method of ${c.name} takes (${got.count} positional${kws}); its methods take ` +
                      `(${have.join(') or (')})`);
      }
    }
  }
  return problems;
}

async function main(argv) {
  const arg = (name) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const modules = arg('--modules');
  const pkg = arg('--package');
  const names = arg('--names') || path.join(__dirname, 'julia-names.txt');
  if (!modules || !pkg) throw new Error('usage: node lint.js --modules DIR --package PKGDIR [--names FILE]');
  const parser = await loadJulia(modules);
  const problems = lintPackage(parser, pkg, names);
  for (const p of problems) console.log(p);
  console.log(`julia_lint: ${problems.length} problem(s) in ${pkg} ` +
              `(${problems.checkedCalls || 0} calls to the package's and the tests' own functions checked)`);
  return problems.length ? 1 : 0;
}

module.exports = { lintPackage };

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
    console.error(`julia_lint: ${err.message}`);
    process.exit(2);
  });
}
