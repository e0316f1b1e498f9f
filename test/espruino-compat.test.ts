import { test } from "node:test";
import assert from "node:assert/strict";
import { transformSync } from "esbuild";
import {
  assertEspruinoCompatible,
  findEspruinoIncompatibilities,
  type EspruinoConstruct,
} from "../scripts/espruino-compat.mjs";

/** [construct, line, column], lines and columns 1-based. */
type Hit = [EspruinoConstruct, number, number];

function hits(source: string): Hit[] {
  return findEspruinoIncompatibilities(source).map((p): Hit => [p.construct, p.line, p.column]);
}

// Each snippet must produce exactly these problems, in this order.
const flagged: Array<[name: string, source: string, expected: Hit[]]> = [
  ["default parameter", "function f(a, b = 1) {}", [["default parameter", 1, 15]]],
  ["default parameter in an arrow", "var f = (a = 1) => a;", [["default parameter", 1, 10]]],
  ["rest parameter", "var f = function (...args) {};", [["rest parameter", 1, 19]]],
  ["spread in a call", "f(...a);", [["spread", 1, 3]]],
  ["spread in an array", "var b = [0, ...a];", [["spread", 1, 13]]],
  ["spread in an object", "var c = { ...a };", [["spread", 1, 11]]],
  ["spread in new", "new F(...a);", [["spread", 1, 7]]],

  ["destructuring declaration", "var x;\nvar { a } = o;", [["destructuring", 2, 5]]],
  ["nested destructuring is reported once", "var { a: [b] } = o;", [["destructuring", 1, 5]]],
  ["destructuring parameter", "function f([a]) {}", [["destructuring", 1, 12]]],
  ["destructuring assignment", "var a; [a] = [1];", [["destructuring", 1, 8]]],
  ["destructuring in a for-of head", "for (const [k, v] of o) {}", [["destructuring", 1, 12]]],
  ["destructuring in a for-in head", "for (var [k] in o) {}", [["destructuring", 1, 10]]],
  ["destructuring in a catch parameter", "try {} catch ({ message }) {}", [["destructuring", 1, 15]]],

  ["computed key in an object", "var o = { [k]: 1 };", [["computed key", 1, 12]]],
  ["computed key in a class", "class A {\n  [k]() {}\n}", [["computed key", 2, 4]]],

  ["optional member", "a?.b;", [["optional chaining", 1, 2]]],
  ["optional call", "var r = a.b?.();", [["optional chaining", 1, 12]]],
  ["optional index", "a?.[0];", [["optional chaining", 1, 2]]],
  ["exponent operator", "var x = 2 ** 3;", [["exponent operator", 1, 9]]],
  ["exponent assignment", "var x = 2;\nx **= 3;", [["exponent operator", 2, 1]]],

  ["async function and await", "async function f() { await g(); }", [["async", 1, 1], ["async", 1, 22]]],
  ["async arrow", "var f = async () => 1;", [["async", 1, 9]]],
  ["async method", "var o = { async m() {} };", [["async", 1, 11]]],
  ["for await", "async function f() { for await (const x of y) {} }", [["async", 1, 1], ["async", 1, 22]]],
  ["generator and yield", "function* g() { yield 1; }", [["generator", 1, 1], ["generator", 1, 17]]],
  ["generator method", "var o = { *m() {} };", [["generator", 1, 11]]],

  ["label", "outer: for (;;) { break outer; }", [["label", 1, 1]]],
  ["tagged template", "var s = tag`x`;", [["tagged template", 1, 9]]],
  ["code point escape in a string", 'var s = "\\u{1F600}";', [["unicode code point escape", 1, 9]]],
  ["code point escape in a template", "var t = `a\\u{41}`;", [["unicode code point escape", 1, 10]]],
  ["code point escape in a regex", "var r = /\\u{41}/;", [["unicode code point escape", 1, 9]]],

  ["closure over a for let", "var fns = [];\nfor (let i = 0; i < 3; i++) fns.push(() => i);",
    [["closure over loop binding", 2, 44]]],
  ["closure over a for-of const", "for (const x of xs) {\n  setTimeout(function () { log(x); });\n}",
    [["closure over loop binding", 2, 32]]],
  ["closure over a for-in const", "for (const k in o) g(() => k);", [["closure over loop binding", 1, 28]]],
  ["closure over a let in a while body", "while (more()) {\n  let v = next();\n  later(() => v);\n}",
    [["closure over loop binding", 3, 15]]],
  ["closure over a const in a do-while body", "do { const v = 1; later(() => v); } while (more());",
    [["closure over loop binding", 1, 31]]],
  ["closure over a const in a nested block of the loop body",
    "for (var i = 0; i < 3; i++) {\n  if (i) {\n    const c = i;\n    later(() => c);\n  }\n}",
    [["closure over loop binding", 4, 17]]],
  ["closure over a loop binding through two functions", "for (let i = 0; i < 3; i++) later(function () { return () => i; });",
    [["closure over loop binding", 1, 62]]],

  ["function called before its declaration", "f();\nfunction f() {}", [["use before declaration", 1, 1]]],
  ["function used before its declaration in a block", "{\n  var h = g;\n  function g() {}\n}", [["use before declaration", 2, 11]]],
  ["function called in a nested block before its declaration",
    "function h() {\n  if (c) { k(); }\n  function k() {}\n}", [["use before declaration", 2, 12]]],
  ["var read before its declaration", "function h() {\n  log(y);\n  var y = 1;\n}", [["use before declaration", 2, 7]]],
  ["var read before its declaration in a loop body", "while (!done) {\n  var done = step();\n}", [["use before declaration", 1, 9]]],

  ["class extends Error", "class E extends Error {}", [["extends Error", 1, 1]]],
  ["class extends TypeError", "var E = class extends TypeError {};", [["extends Error", 1, 9]]],
  ["private method and its use", "class A {\n  #m() {}\n  n() { this.#m(); }\n}",
    [["private field", 2, 3], ["private field", 3, 14]]],
  ["private field", "class A { #x; }", [["private field", 1, 11], ["class field", 1, 11]]],
  ["class field", "class A { x = 1; static y = 2; }", [["class field", 1, 11], ["class field", 1, 18]]],
  ["class static block", "class A { static { init(); } }", [["class static block", 1, 11]]],

  ["Array.prototype method", "var a = Array.prototype.slice.call(arguments);", [["missing built-in", 1, 9]]],
  ["BigInt literal", "var n = 10n;", [["missing built-in", 1, 9]]],
  [".at() call", "var last = xs.at(-1);", [["missing built-in", 1, 15]]],
  [".lastIndexOf() call", "var i = s.lastIndexOf('/');", [["missing built-in", 1, 11]]],
  [".finally() call", "p.then(f).finally(done);", [["missing built-in", 1, 11]]],

  ["reserved name of as a variable", "var of = 1;", [["reserved identifier", 1, 5]]],
  ["reserved name let as a parameter", "function f(let) {}", [["reserved identifier", 1, 12]]],
  ["reserved name static as a reference", "var x = static + 1;", [["reserved identifier", 1, 9]]],
  ["reserved name of as a function and its call", "function of() {}\nof();",
    [["reserved identifier", 1, 10], ["reserved identifier", 2, 1]]],

  ["regex flag y", "var r = /a/y;", [["regex flag", 1, 9]]],
  ["regex flags u and s", "var r = /a/gsu;", [["regex flag", 1, 9]]],
  ["alternation in a group", "var r = /^(0|[1-9])$/;", [["regex construct", 1, 9]]],
  ["alternation at the top", "var r = /^a|b$/;", [["regex construct", 1, 9]]],
  ["a non-capturing group", "var r = /(?:ab)/;", [["regex construct", 1, 9]]],
  ["a lookahead", "var r = /a(?=b)/;", [["regex construct", 1, 9]]],
  ["an optional group", "var r = /^\\d+(\\.\\d+)?$/;", [["regex construct", 1, 9]]],
  ["a repeated group", "var r = /^(ab)+$/;", [["regex construct", 1, 9]]],
  ["a counted quantifier", "var r = /a{2}/;", [["regex construct", 1, 9]]],
  ["a counted range", "var r = /a{1,3}/;", [["regex construct", 1, 9]]],
  ["alternation in a RegExp call", 'var r = RegExp("a|b");', [["regex construct", 1, 9]]],
  ["a quantifier on a group in new RegExp", 'var r = new RegExp("(a)*");', [["regex construct", 1, 9]]],
  ["alternation after [^] (any character)", "var r = /[^]|a/;", [["regex construct", 1, 9]]],
  ["do with a single statement (how esbuild minifies a one-line body)", "var n = 0;\ndo n++;while (n < 3);", [["do without braces", 2, 1]]],
  ["new.target", "function F() {\n  if (!new.target) {}\n}", [["syntax", 2, 8]]],
  ["import.meta is a syntax error in a script", "var u = import.meta.url;", [["syntax", 1, 9]]],
  ["parse error", "var ok = 1;\nvar = 2;", [["syntax", 2, 5]]],
  ["non-ASCII characters", "var s = \"caf\u00e9\";\n// \u20ac", [["non-ASCII", 1, 13], ["non-ASCII", 2, 4]]],
  ["non-ASCII identifier", "var \u00e9 = 1;", [["non-ASCII", 1, 5]]],
];

for (const [name, source, expected] of flagged) {
  test(`flags ${name}`, () => {
    assert.deepEqual(hits(source), expected);
  });
}

const missingGlobals = ["Map", "Set", "WeakMap", "WeakSet", "WeakRef", "Symbol", "Proxy", "Reflect", "BigInt", "RangeError"];
for (const name of missingGlobals) {
  test(`flags the missing global ${name}`, () => {
    assert.deepEqual(hits(`var x = 1;\nvar y = ${name};`), [["missing built-in", 2, 9]]);
  });
}

const missingStatics = [
  "Number.isInteger", "Number.isNaN", "Number.parseInt", "Number.parseFloat", "Math.trunc",
  "Array.from", "Object.freeze", "Promise.race", "Promise.allSettled", "Promise.any",
];
for (const name of missingStatics) {
  test(`flags the missing built-in ${name}`, () => {
    const problems = findEspruinoIncompatibilities(`x(${name}(a));`);
    assert.deepEqual(problems.map((p) => [p.construct, p.line, p.column]), [["missing built-in", 1, 3]]);
    assert.match(problems[0]?.message ?? "", new RegExp(name.replace(".", "\\.")));
  });
}

// Each snippet must produce no problem at all.
const valid: Array<[name: string, source: string]> = [
  ["arrow functions", "var f = (a, b) => a + b;\nvar g = () => { return f(1, 2); };\nvar h = x => ({ x: x });"],
  ["let and const in blocks", "{ let a = 1; const b = 2; a += b; }\nif (c) { const d = 1; use(d); }"],
  ["classes with one extends, getters, setters and static methods",
    "class A {\n  constructor(x) { this.x = x; }\n  get v() { return this.x; }\n  set v(y) { this.x = y; }\n" +
    "  static make() { return new A(1); }\n}\nclass B extends A {\n  constructor() { super(2); }\n  m() { return super.v; }\n}"],
  ["template literals", "var n = 1;\nvar t = `a${n + 2}b\\n\\x41`;"],
  ["for-of over an array", "var total = 0;\nfor (const x of [1, 2, 3]) { total += x; }"],
  ["nullish coalescing", "var a = b ?? 1;"],
  ["catch without a binding", "try { risky(); } catch { recover(); }"],
  ["catch with a plain binding", "try { risky(); } catch (e) { log(e.message); }"],
  ["shorthand properties and methods", "var a = 1;\nvar o = { a, m() { return a; }, get g() { return 2; } };"],
  ["closure in a loop capturing a var", "var fns = [];\nfor (var i = 0; i < 3; i++) { fns.push(function () { return i; }); }"],
  ["closure in a loop capturing a parameter",
    "function make(n) {\n  for (var j = 0; j < n; j++) { setTimeout(function () { log(n); }); }\n}"],
  ["closure in a loop shadowing the loop binding",
    "for (let i = 0; i < 3; i++) { later(function (i) { return i; }); later(() => { let i = 0; return i; }); }"],
  ["closure in a loop over its own let", "for (var i = 0; i < 3; i++) { later(() => { let v = i; return () => v; }); }"],
  ["loop let used without a closure", "var total = 0;\nfor (let i = 0; i < 3; i++) { const d = i * 2; total += d; }"],
  ["function declared before it is called", "function f() { return 1; }\nf();"],
  ["closure referencing a function declared later", "function a() { return b(); }\nfunction b() { return 1; }\na();"],
  ["arrow referencing a later function", "var later = () => b();\nfunction b() {}\nlater();"],
  ["block binding shadowing a later function", "{ let f = 1; use(f); }\nfunction f() {}"],
  ["var used after its declaration", "var x = x || {};\nx.y = 1;\nfunction g() { var z; z = 1; return z; }"],
  ["recursive function", "function fact(n) { return n < 2 ? 1 : n * fact(n - 1); }\nfact(3);"],
  ["[].slice.call", "function f() { return [].slice.call(arguments); }"],
  ["supported built-ins",
    "var s = String.fromCharCode(65);\nvar u = new Uint8Array(4);\nPromise.all([]).then(function () {}).catch(function () {});\n" +
    "var n = parseInt('1') + parseFloat('2') + (isNaN(3) ? 1 : 0);\nvar k = Object.keys({}).indexOf('x');"],
  ["a property named of", "var o = { of: 1 };\nvar v = o.of;\nclass C { of() {} }"],
  ["shadowed built-in names", "function f(Map) { return new Map(); }\nvar Set = function () {};\nnew Set();"],
  ["typeof of a missing global", "var hasSymbol = typeof Symbol !== 'undefined';"],
  ["escaped backslash before u{", "var s = '\\\\u{41}';"],
  ["regex flags g, i and m", "var r = /a\\d+/gim;"],
  ["regex constructs Espruino matches rightly", "var r = [/^\\d+\\.\\d+$/, /\\s*([{}:,])\\s*/g, /[^\\x00-\\x02\\x80]/, /^[+#]/, /^\"\\w+\"$/];"],
  ["| ( ) { in a class or escaped", "var r = [/[|(){}]+/, /a\\|b/, /\\(x\\)+/, /a\\{2\\}/, /[\\]|]/];"],
  ["do with a block", "var n = 0;\ndo { n++; } while (n < 3);\nwhile (n--) n;\nfor (; n < 3; n++) n;"],
  ["\\u escapes without braces", "var s = '\\u00e9\\xff';"],
];

for (const [name, source] of valid) {
  test(`accepts ${name}`, () => {
    assert.deepEqual(hits(source), []);
  });
}

test("an esbuild bundle built with the documented settings is accepted", () => {
  const { code } = transformSync(
    `export class A { x?: number; get v() { return 1; } static m() { return new A(); } }
     class B extends A { n() { return \`a\${this.v}\`; } }
     const list = [1, 2, 3]; let t = 0; for (const v of list) t += v;
     function main() { const o = { t, m() { return t ?? 2; } }; try { o.m(); } catch { } return new B(); }
     main();`,
    {
      loader: "ts", format: "iife", target: "es2015", minify: true,
      tsconfigRaw: { compilerOptions: { useDefineForClassFields: false } },
      supported: { "nullish-coalescing": true, "optional-catch-binding": true },
    },
  );
  assert.deepEqual(hits(code), []);
});

test("esbuild's cjs export helper is flagged as a closure over a loop binding", () => {
  const { code } = transformSync("export const a = 1; export function b() {}", { format: "cjs", target: "es2015" });
  assert.ok(hits(code).some(([construct]) => construct === "closure over loop binding"));
});

test("problems are sorted by position and messages name file, place and construct", () => {
  const problems = findEspruinoIncompatibilities("var x = a?.b;\nfunction f(q = 1) {}\nvar y = 2 ** 2;", "dist/firmware.js");
  assert.deepEqual(problems.map((p) => p.construct), ["optional chaining", "default parameter", "exponent operator"]);
  assert.equal(problems[1]?.message, "dist/firmware.js:2:12: default parameter: Espruino rejects default parameters");
});

test("at most 5 non-ASCII characters are reported", () => {
  const problems = findEspruinoIncompatibilities(`var s = "${"\u00e9".repeat(8)}";`);
  assert.equal(problems.length, 5);
  assert.ok(problems.every((p) => p.construct === "non-ASCII" && p.line === 1));
  assert.match(problems[0]?.message ?? "", /U\+00E9.*8 non-ASCII characters in all/);
});

test("assertEspruinoCompatible accepts a compatible bundle", () => {
  assert.doesNotThrow(() => assertEspruinoCompatible("(()=>{var a=1;function b(){return a}b()})();", "dist/ok.js"));
});

test("assertEspruinoCompatible throws one error listing the first 20 problems and the count", () => {
  const source = Array.from({ length: 25 }, (_, i) => `var v${i} = 2 ** ${i};`).join("\n");
  assert.throws(
    () => assertEspruinoCompatible(source, "dist/firmware.js"),
    (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /^dist\/firmware\.js: 25 constructs Espruino cannot run:/);
      assert.match(err.message, /dist\/firmware\.js:1:10: exponent operator/);
      assert.match(err.message, /dist\/firmware\.js:20:11: exponent operator/);
      assert.doesNotMatch(err.message, /dist\/firmware\.js:21:/);
      assert.match(err.message, /\.\.\. and 5 more/);
      return true;
    },
  );
});
