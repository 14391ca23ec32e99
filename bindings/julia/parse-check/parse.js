'use strict';
// julia_syntax: parses every .jl file under the given files/directories with
// tree-sitter-julia and reports each ERROR or MISSING node (and each keyword
// parsed as an identifier) as FILE:LINE:COLUMN.  Exit status 1 if any.
//
//   node parse.js --modules DIR PATH...
const fs = require('fs');
const path = require('path');
const { loadJulia, syntaxProblems } = require('./ts');

function jlFiles(p, out) {
  const st = fs.statSync(p);
  if (st.isDirectory()) {
    for (const name of fs.readdirSync(p).sort()) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      jlFiles(path.join(p, name), out);
    }
  } else if (p.endsWith('.jl')) {
    out.push(p);
  }
  return out;
}

async function main(argv) {
  const i = argv.indexOf('--modules');
  if (i < 0 || !argv[i + 1]) throw new Error('usage: node parse.js --modules DIR PATH...');
  const modules = argv[i + 1];
  const paths = argv.filter((_, k) => k !== i && k !== i + 1);
  const files = [];
  for (const p of paths) jlFiles(p, files);
  if (files.length === 0) throw new Error(`no .jl file under ${paths.join(' ')}`);
  const parser = await loadJulia(modules);
  let count = 0;
  for (const file of files) {
    const tree = parser.parse(fs.readFileSync(file, 'utf8'));
    const problems = syntaxProblems(tree);
    for (const p of problems) console.log(`${file}:${p.line}:${p.column}: ${p.what}`);
    count += problems.length;
    console.log(`${problems.length ? 'FAIL' : 'ok  '} ${file} (${tree.rootNode.endPosition.row} lines)`);
  }
  console.log(`julia_syntax: ${files.length} file(s) parsed, ${count} syntax problem(s)`);
  return count ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  console.error(`julia_syntax: ${err.message}`);
  process.exit(2);
});
