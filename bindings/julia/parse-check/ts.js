'use strict';
// Loads tree-sitter-julia (its WebAssembly build, so nothing is compiled) through
// web-tree-sitter, from the node_modules directory given on the command line as
// --modules DIR (npm installs them in the build tree, never in the source tree).
const path = require('path');
const { createRequire } = require('module');

// The grammar is a 6 MB WebAssembly module.  V8's baseline compiler (Liftoff)
// has it ready in ~0.1 s, but V8 then also optimises all of it with TurboFan
// in the background and the process waits ~5 s for that before it can exit.
// Parsing a few files never needs the optimised code.  (A V8 without the flag
// ignores it and is merely slower.)
require('v8').setFlagsFromString('--liftoff-only');

async function loadJulia(modulesDir) {
  const req = createRequire(path.join(path.resolve(modulesDir), 'package.json'));
  let Parser, wasm;
  try {
    Parser = req('web-tree-sitter');
    wasm = req.resolve('tree-sitter-julia/tree-sitter-julia.wasm');
  } catch (err) {
    throw new Error(`cannot load web-tree-sitter / tree-sitter-julia from ${modulesDir}/node_modules ` +
                    `(run npm ci there first): ${err.message}`);
  }
  await Parser.init();
  const Julia = await Parser.Language.load(wasm);
  const parser = new Parser();
  parser.setLanguage(Julia);
  return parser;
}

// Keywords that tree-sitter-julia may take for identifiers.  `end` and `begin`
// are values only inside indexing brackets (a[end], a[begin + 1]).
const KEYWORDS = new Set(['abstract', 'baremodule', 'begin', 'break', 'catch', 'const', 'continue',
  'do', 'else', 'elseif', 'end', 'export', 'finally', 'for', 'function', 'global', 'if', 'import',
  'let', 'local', 'macro', 'module', 'mutable', 'primitive', 'quote', 'return', 'struct', 'try',
  'using', 'while']);

function insideIndexBrackets(node) {
  for (let child = node, parent = node.parent; parent; child = parent, parent = parent.parent) {
    if (parent.type === 'index_expression' && parent.namedChild(0) &&
        parent.namedChild(0).id !== child.id) {
      return true;
    }
  }
  return false;
}

// Every syntax problem in a parse tree: ERROR and MISSING nodes, and keywords
// that the grammar accepted as identifiers (a stray `end` parses as one).
function syntaxProblems(tree) {
  const problems = [];
  const walk = (node) => {
    if (node.type === 'ERROR') {
      problems.push({ node, what: `syntax error near ${JSON.stringify(node.text.slice(0, 40))}` });
      return;
    }
    if (node.isMissing) {
      problems.push({ node, what: `missing ${JSON.stringify(node.type)}` });
      return;
    }
    if (node.type === 'identifier' && KEYWORDS.has(node.text) &&
        !((node.text === 'end' || node.text === 'begin') && insideIndexBrackets(node))) {
      problems.push({ node, what: `keyword \`${node.text}\` where an expression is expected ` +
                                  '(an unmatched `end`?)' });
      return;
    }
    for (let i = 0; i < node.childCount; i++) walk(node.child(i));
  };
  walk(tree.rootNode);
  return problems.map(({ node, what }) => ({
    line: node.startPosition.row + 1, column: node.startPosition.column + 1, what }));
}

module.exports = { loadJulia, syntaxProblems };
