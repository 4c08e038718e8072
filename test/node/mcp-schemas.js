// mcp-schemas.js -- for 97-mcp: every tool's inputSchema and outputSchema
// is a valid JSON Schema (2020-12, ajv in strict mode), and each result the
// test collected conforms to its tool's outputSchema.
//
// usage: node mcp-schemas.js TOOLS-LIST-RESULT.json RESULTS.jsonl
//   RESULTS.jsonl: one {"tool": NAME, "structuredContent": {...}} per line
// Prints one line per problem; exits 1 if there was any.
const fs = require('fs');
const Ajv2020 = require('ajv/dist/2020');

const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
// the keywords MCP's tool schemas may carry beside JSON Schema's own
ajv.addKeyword({ keyword: 'x-mcp-header', schemaType: 'string' });

const list = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const tools = (list.result || list).tools;
const out = {};
let bad = 0;
for (const t of tools) {
  for (const k of ['inputSchema', 'outputSchema']) {
    try {
      const v = ajv.compile(t[k]);
      if (k === 'outputSchema') out[t.name] = v;
      if (t[k].type !== 'object') throw new Error('the root is not type object');
    } catch (e) {
      console.log(`${t.name} ${k}: ${e.message}`);
      bad++;
    }
  }
}
let n = 0;
for (const line of fs.readFileSync(process.argv[3], 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const r = JSON.parse(line);
  const v = out[r.tool];
  n++;
  if (!v) {
    console.log(`${r.tool}: no such tool in the list`);
    bad++;
  } else if (!v(r.structuredContent)) {
    console.log(`${r.tool}: ${JSON.stringify(r.structuredContent).slice(0, 300)}: ${ajv.errorsText(v.errors)}`);
    bad++;
  }
}
console.log(`${tools.length} tools, ${n} results checked, ${bad} problems`);
process.exit(bad ? 1 : 0);
