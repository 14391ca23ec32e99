'use strict';
// julia_syntax_selftest: proves that parse.js and lint.js fail when they should.
//
// Syntax: writes deliberately broken .jl files (snippets, and copies of the
// package's files with one break each) under WORKDIR, runs the real parse.js
// command line on all of them at once, and requires a failing exit status and
// a report at each expected FILE:LINE.  Lint: runs lint.js's checks on copies
// of the package with one wrong name each and requires the report naming it,
// then runs the lint.js command line on one broken copy for its exit status.
// The unaltered package must pass both command lines.
//
//   node selftest.js --modules DIR --package bindings/julia/AttnRoll --work WORKDIR
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { loadJulia } = require('./ts');
const { lintPackage } = require('./lint');

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const modules = arg('--modules');
const pkg = arg('--package');
const work = arg('--work');
const names = arg('--names') || path.join(__dirname, 'julia-names.txt');
if (!modules || !pkg || !work) {
  console.error('usage: node selftest.js --modules DIR --package PKGDIR --work WORKDIR [--names FILE]');
  process.exit(2);
}
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });

const FILES = ['src/LibAttnRoll.jl', 'src/AttnRoll.jl', 'test/runtests.jl'];
const original = Object.fromEntries(FILES.map((f) => [f, fs.readFileSync(path.join(pkg, f), 'utf8')]));

function run(script, args) {
  const r = spawnSync(process.execPath, [path.join(__dirname, script), '--modules', modules, ...args],
                      { encoding: 'utf8' });
  return { status: r.status, out: (r.stdout || '') + (r.stderr || '') };
}

let passed = 0;
const failed = [];
function check(name, ok, detail) {
  console.log(`[${ok ? 'ok' : 'FAILED'}] ${name}`);
  if (ok) {
    passed++;
  } else {
    failed.push(name);
    if (detail) console.log(String(detail).split('\n').map((l) => '    | ' + l).join('\n'));
  }
}

// Replace exactly one occurrence (so that a case cannot go stale silently).
function replaceOnce(text, from, to) {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) {
    throw new Error(`selftest: ${JSON.stringify(from)} must occur exactly once`);
  }
  return text.slice(0, at) + to + text.slice(at + from.length);
}

function lineOf(text, needle) {
  const at = text.indexOf(needle);
  if (at < 0) throw new Error(`selftest: ${JSON.stringify(needle)} not found`);
  return text.slice(0, at).split('\n').length;
}

(async () => {
  // ---------------------------------------------------------------- syntax
  const clean = run('parse.js', [pkg]);
  check(`syntax: the package parses (exit ${clean.status})`,
        clean.status === 0 && clean.out.includes('0 syntax problem(s)'), clean.out);

  const cases = [];  // [name, file, expected line or null for "anywhere"]
  const write = (rel, text) => {
    const file = path.join(work, 'syntax', rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    return file;
  };
  const snippets = [
    ['missing end of a function', 'function f(x)\n    x + 1\n', 1],
    ['stray end', 'x = 1\nend\ny = 2\n', 2],
    ['stray end closing a function early', 'function f(x)\n    if x\n        1\n    end\n    end\n    2\nend\n', 7],
    ['doubled comma', 'f(x,, y)\n', 1],
    ['unterminated string', 'a = 1\nx = "abc\n', 2],
    ['unclosed bracket', 'y = [1, 2\nz = 3\n', 1],
    ['operator without operand', 'x = 3 * * 4\n', 1],
  ];
  snippets.forEach(([name, text, line], k) => cases.push([name, write(`snippet${k}.jl`, text), line]));

  const main = original['src/AttnRoll.jl'];
  const from = '                _check_named(attnroll_spatial(tensors, length(tensors), cfg, Ref(_tensor(ov))))';
  cases.push(['AttnRoll.jl with an unclosed parenthesis',
              write('main-paren/AttnRoll.jl', replaceOnce(main, from, from.slice(0, -1))), null]);
  const anchor = '    return _result(out, order)\nend\n\n' +
                 '# --------------------------------------------------------------------------\n# Temporal rollout';
  cases.push(['AttnRoll.jl missing the end of spatial()',
              write('main-end/AttnRoll.jl', replaceOnce(main, anchor, anchor.replace('\nend\n', '\n'))), null]);
  const tests = original['test/runtests.jl'];
  const opener = '@testset "threads do not change the result" begin';
  cases.push(['runtests.jl with an extra parenthesis',
              write('tests/runtests.jl', replaceOnce(tests, opener, opener + ')')), lineOf(tests, opener)]);
  // An `end` that closes library_candidates() early: the function's own `end`
  // then closes the module, and the module's `end` is left unmatched (where
  // Julia's parser reports it too).
  const lib = original['src/LibAttnRoll.jl'];
  const brokenLib = replaceOnce(lib, '    isempty(override) || return [override]\n',
                                '    isempty(override) || return [override]\nend\n');
  cases.push(['LibAttnRoll.jl with a stray end', write('lib/LibAttnRoll.jl', brokenLib),
              lineOf(brokenLib, 'end # module LibAttnRoll')]);

  const all = run('parse.js', [path.join(work, 'syntax')]);
  check(`syntax: parse.js fails on the broken files (exit ${all.status})`, all.status === 1, all.out);
  for (const [name, file, line] of cases) {
    const needle = line === null ? `${file}:` : `${file}:${line}:`;
    check(`syntax: ${name}: reported at ${needle}`, all.out.includes(needle), all.out);
  }

  // ------------------------------------------------------------------ lint
  const cleanLint = run('lint.js', ['--package', pkg, '--names', names]);
  check(`lint: the package is clean (exit ${cleanLint.status})`,
        cleanLint.status === 0 && cleanLint.out.includes('0 problem(s)'), cleanLint.out);

  const lintCases = [
    ['a mistyped helper in AttnRoll.jl', 'src/AttnRoll.jl',
     '                _check_named(attnroll_spatial(tensors', '                _chek_named(attnroll_spatial(tensors',
     /AttnRoll\.jl:\d+:\d+: function _chek_named is not defined/],
    ['a C function that LibAttnRoll.jl does not define', 'src/AttnRoll.jl',
     '_check_named(attnroll_spatial(tensors', '_check_named(attnroll_spatail(tensors',
     /attnroll_spatail is not defined in LibAttnRoll\.jl/],
    ['an export with no definition', 'src/AttnRoll.jl',
     'layers_pushed, bytes_held, mathorder, AttnRollError',
     'layers_pushed, bytes_held, mathorder, AttnRollError, rollout_bogus', /exports rollout_bogus, which AttnRoll\.jl/],
    ['an undefined underscore name used as a type', 'src/AttnRoll.jl',
     '_View[_view(', '_Veiw[_view(', /_Veiw is not defined in the package/],
    ['a mistyped helper in LibAttnRoll.jl', 'src/LibAttnRoll.jl',
     'ptr == C_NULL && _not_loaded(name)', 'ptr == C_NULL && _not_load(name)',
     /LibAttnRoll\.jl:\d+:\d+: function _not_load is not defined/],
    ['a misspelt Base function in the tests', 'test/runtests.jl',
     'reversed_dims(n) = ntuple(', 'reversed_dims(n) = ntupel(', /runtests\.jl:\d+:\d+: function ntupel is not defined/],
    ['a misspelt test helper', 'test/runtests.jl',
     '            @test close_enough(got, ref_spatial(layers), T)\n        end\n        @test eltype',
     '            @test close_enouhg(got, ref_spatial(layers), T)\n        end\n        @test eltype', /function close_enouhg/],
    ['a qualified name that the package lacks', 'test/runtests.jl',
     '@test AttnRoll.minmax(fill(7.5, 2, 2, 3))', '@test AttnRoll.minmaxx(fill(7.5, 2, 2, 3))',
     /AttnRoll\.minmaxx is not defined/],
    ['a constant that LibAttnRoll.jl does not define', 'test/runtests.jl',
     '@test throws(() -> spatial(bad), ATTNROLL_E_SHAPE, "layers[0]", "square")',
     '@test throws(() -> spatial(bad), ATTNROLL_E_SHAP, "layers[0]", "square")',
     /ATTNROLL_E_SHAP is not defined in LibAttnRoll\.jl/],
    ['a misspelt keyword in the tests', 'test/runtests.jl',
     '            got = spatial(layers; out_type = T)\n            @test got isa Array{T,3}',
     '            got = spatial(layers; out_typ = T)\n            @test got isa Array{T,3}',
     /no method of spatial takes \(1 positional; out_typ\)/],
    ['a helper called with an argument missing', 'src/AttnRoll.jl',
     'return _make_view(owner, layout[1], layout[2], code, x)', 'return _make_view(owner, layout[1], layout[2], code)',
     /no method of _make_view takes \(4 positional\)/],
    ['a struct constructed with a field missing', 'test/runtests.jl',
     'z = ZeroStride(rand(Float16, 4, 1), (4, 6))', 'z = ZeroStride(rand(Float16, 4, 1))',
     /no method of ZeroStride takes \(1 positional\)/],
    ['a qualified call with a wrong keyword', 'test/runtests.jl',
     'got = AttnRoll.minmax(x; out_type = out)', 'got = AttnRoll.minmax(x; order = :math, out_type = out)',
     /no method of minmax takes \(1 positional; order, out_type\)/],
    ['an unknown macro', 'test/runtests.jl',
     '@testset "post-processing" begin\n    rng', '@testest "post-processing" begin\n    rng', /macro @testest/],
  ];
  const parser = await loadJulia(modules);
  for (const [name, rel, fromText, toText, needle] of lintCases) {
    const problems = lintPackage(parser, pkg, names, { [rel]: replaceOnce(original[rel], fromText, toText) });
    const text = problems.join('\n');
    check(`lint: ${name}: ${needle}`, needle.test(text), text || '(no problem reported)');
  }
  // and the command line's exit status on one broken copy
  const dir = path.join(work, 'lint-cli');
  for (const f of FILES) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    const text = f === 'src/AttnRoll.jl' ? replaceOnce(original[f], '_View[_view(', '_Veiw[_view(') : original[f];
    fs.writeFileSync(path.join(dir, f), text);
  }
  const broken = run('lint.js', ['--package', dir, '--names', names]);
  check(`lint: lint.js fails on a broken copy (exit ${broken.status})`,
        broken.status === 1 && broken.out.includes('_Veiw'), broken.out);

  console.log(`${passed} passed, ${failed.length} failed`);
  process.exit(failed.length ? 1 : 0);
})().catch((err) => {
  console.error(`julia_syntax_selftest: ${err.stack || err}`);
  process.exit(2);
});
