#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// A real client through the gateway: the official `openai` npm package's
// AzureOpenAI client sends chat completions, streamed chat completions and
// (optionally) embeddings to HAProxy + aoai-spoa, exactly as an application
// would talk to one Azure OpenAI resource.
//
// maxRetries is 0: the SDK retries 429 and 5xx by itself by default, which
// would hide a throttle that leaked through the gateway. Here any error the
// client sees is a failed line.
//
// Usage (argv wins over the environment):
//   node tests/node/openai-client.mjs --endpoint http://127.0.0.1:PORT \
//        --api-key KEY --deployment gpt-4o --api-version 2024-06-01 \
//        [--chats 24] [--streams 4] [--embeddings 4] \
//        [--embeddings-deployment text-embedding-3-small] [--concurrency 4]
//        [--mock-vectors 1]
//   --mock-vectors 1: each decoded embedding must equal the vector the
//   lab's mock region computes for its input (tests/mock/mock-embed.c).
//   env: AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY, AOAI_DEPLOYMENT,
//        OPENAI_API_VERSION, AOAI_EMBEDDINGS_DEPLOYMENT
//
// Output, one line per request, TAP-like:
//   ok - chat 3: 200 from eastus (12 ms)
//   not ok - stream 1: RateLimitError 429 ...
// then "# served <region>=<n> ...", "# errors N" and the closing plan line
// "1..N". Exit status: 0 when every line is ok, 1 otherwise, 2 on bad usage
// or a missing package.

const started = Date.now();

function parseArgs(argv) {
  const out = {};
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      usage(`unexpected argument ${a}`);
    }
    const eq = a.indexOf('=');
    if (eq > 0) {
      out[a.slice(2, eq)] = a.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      out[a.slice(2)] = argv[++i];
    }
  }
  return out;
}

function usage(msg) {
  console.error(`openai-client.mjs: ${msg}`);
  console.error('usage: node openai-client.mjs --endpoint URL --api-key KEY ' +
    '--deployment NAME --api-version VER [--chats N] [--streams N] ' +
    '[--embeddings N] [--embeddings-deployment NAME] [--concurrency N]');
  process.exit(2);
}

const args = parseArgs(process.argv);
const endpoint = args.endpoint ?? process.env.AZURE_OPENAI_ENDPOINT;
const apiKey = args['api-key'] ?? process.env.AZURE_OPENAI_API_KEY;
const deployment = args.deployment ?? process.env.AOAI_DEPLOYMENT ?? 'gpt-4o';
const apiVersion = args['api-version'] ?? process.env.OPENAI_API_VERSION ??
  '2024-06-01';
const embDeployment = args['embeddings-deployment'] ??
  process.env.AOAI_EMBEDDINGS_DEPLOYMENT ?? 'text-embedding-3-small';
const nChats = Number(args.chats ?? 24);
const nStreams = Number(args.streams ?? 4);
const nEmbeddings = Number(args.embeddings ?? 0);
const checkMockVectors = args['mock-vectors'] === '1';
const concurrency = Math.max(1, Number(args.concurrency ?? 4));
const timeoutMs = Number(args['timeout-ms'] ?? 30000);

if (!endpoint) usage('no endpoint (--endpoint or AZURE_OPENAI_ENDPOINT)');
if (!apiKey) usage('no api key (--api-key or AZURE_OPENAI_API_KEY)');
for (const [k, v] of [['chats', nChats], ['streams', nStreams],
  ['embeddings', nEmbeddings]]) {
  if (!Number.isInteger(v) || v < 0) usage(`--${k} must be an integer >= 0`);
}

let AzureOpenAI;
try {
  ({ AzureOpenAI } = await import('openai'));
} catch (err) {
  console.log('not ok - load the openai package: ' + String(err.message ?? err) +
    ' (run: npm ci --prefix tests/node)');
  console.log('1..1');
  process.exit(2);
}

// The wire format of each embeddings answer, by its request's first input.
const wireFormat = new Map();
async function peekingFetch(url, init) {
  const res = await fetch(url, init);
  if (String(url).includes('/embeddings') && res.ok) {
    try {
      const first = JSON.parse(init.body).input[0];
      const item = JSON.parse(await res.clone().text()).data?.[0]?.embedding;
      wireFormat.set(first, typeof item === 'string' ? 'base64'
        : Array.isArray(item) ? 'float' : typeof item);
    } catch {
      // an unreadable answer fails its request's own checks
    }
  }
  return res;
}

function clientFor(dep) {
  return new AzureOpenAI({
    endpoint,
    fetch: peekingFetch,
    apiKey,
    apiVersion,
    deployment: dep,
    maxRetries: 0, // a 429 the gateway let through must be seen
    timeout: timeoutMs,
  });
}
const chatClient = clientFor(deployment);
const embClient = clientFor(embDeployment);

const served = {};
let passed = 0;
let failed = 0;

function report(ok, name, detail) {
  if (ok) {
    passed++;
    console.log(`ok - ${name}${detail ? ': ' + detail : ''}`);
  } else {
    failed++;
    console.log(`not ok - ${name}: ${detail}`);
  }
}

function describeError(err) {
  const parts = [err?.constructor?.name ?? 'Error'];
  if (err?.status !== undefined) parts.push(String(err.status));
  const server = err?.headers?.get?.('x-aoai-server');
  if (server) parts.push(`from ${server}`);
  parts.push(String(err?.message ?? err).replace(/\s+/g, ' ').slice(0, 200));
  return parts.join(' ');
}

function region(headers) {
  return headers.get('x-aoai-server') || headers.get('x-ms-region') || '?';
}

async function oneChat(i) {
  const name = `chat ${i}`;
  const t0 = Date.now();
  try {
    const { data, response } = await chatClient.chat.completions.create({
      model: deployment,
      messages: [
        { role: 'system', content: 'You are a terse assistant.' },
        { role: 'user', content: `Say hello #${i} from your region.` },
      ],
      max_tokens: 16,
    }).withResponse();
    const r = region(response.headers);
    const text = data?.choices?.[0]?.message?.content ?? '';
    if (!text || data.object !== 'chat.completion') {
      report(false, name, `unexpected body from ${r}: ${JSON.stringify(data).slice(0, 200)}`);
      return;
    }
    served[r] = (served[r] ?? 0) + 1;
    report(true, name, `${response.status} from ${r} (${Date.now() - t0} ms)`);
  } catch (err) {
    report(false, name, describeError(err));
  }
}

async function oneStream(i) {
  const name = `stream ${i}`;
  const t0 = Date.now();
  try {
    const { data: stream, response } = await chatClient.chat.completions.create({
      model: deployment,
      messages: [{ role: 'user', content: `Stream hello #${i}.` }],
      max_tokens: 32,
      stream: true,
    }).withResponse();
    const r = region(response.headers);
    let text = '';
    let chunks = 0;
    let finish = null;
    for await (const chunk of stream) {
      chunks++;
      const choice = chunk.choices?.[0];
      if (choice?.delta?.content) text += choice.delta.content;
      if (choice?.finish_reason) finish = choice.finish_reason;
    }
    if (!text || finish !== 'stop') {
      report(false, name, `incomplete stream from ${r}: ${chunks} chunks, ` +
        `finish_reason=${finish}, text=${JSON.stringify(text)}`);
      return;
    }
    served[r] = (served[r] ?? 0) + 1;
    report(true, name, `${response.status} from ${r}, ${chunks} chunks, ` +
      `"${text}" (${Date.now() - t0} ms)`);
  } catch (err) {
    report(false, name, describeError(err));
  }
}

// The mock's vector for one input (tests/mock/mock-embed.c): FNV-1a of
// the input's JSON text seeds a few sines, rounded to float32.
function mockVector(text) {
  let h = 1469598103934665603n;
  for (const b of Buffer.from(JSON.stringify(text), 'utf8')) {
    h = ((h ^ BigInt(b)) * 1099511628211n) & 0xffffffffffffffffn;
  }
  const seed = Number(h % 100003n);
  return Array.from({ length: 8 },
    (_, k) => Math.fround(0.05 * Math.sin(seed * 0.37 + k * 1.7)));
}

// Two inputs per request; odd requests leave encoding_format to the SDK
// (base64, decoded by the SDK), even ones ask for floats. The wire format
// is read by the fetch wrapper, so a float answer to a base64 request
// (which the SDK would pass through silently) is a failure too.
async function oneEmbedding(i) {
  const name = `embeddings ${i}`;
  const t0 = Date.now();
  const input = [`embedding input #${i}`, `second input #${i}`];
  const want = i % 2 ? 'base64' : 'float';
  try {
    const req = { model: embDeployment, input };
    if (want === 'float') req.encoding_format = 'float';
    const { data, response } = await embClient.embeddings.create(req)
      .withResponse();
    const r = region(response.headers);
    const items = data?.data ?? [];
    const problems = [];
    if (items.length !== input.length) {
      problems.push(`${items.length} embeddings for ${input.length} inputs`);
    }
    items.forEach((d, k) => {
      const vec = d?.embedding;
      if (d?.index !== k) problems.push(`item ${k} has index ${d?.index}`);
      if (!Array.isArray(vec) || vec.length === 0 ||
          !vec.every((x) => Number.isFinite(x) && Math.abs(x) <= 1)) {
        problems.push(`item ${k}: not a vector of small finite numbers`);
      } else if (checkMockVectors) {
        const exp = mockVector(input[k]);
        if (vec.length !== exp.length ||
            vec.some((x, j) => Math.abs(x - exp[j]) > 1e-6)) {
          problems.push(`item ${k}: decoded ${JSON.stringify(vec)}, ` +
            `mock sent ${JSON.stringify(exp)}`);
        }
      }
    });
    const seen = wireFormat.get(input[0]);
    if (seen !== want) problems.push(`asked ${want}, wire carried ${seen}`);
    if (problems.length) {
      report(false, name, `from ${r}: ${problems.join('; ')}`);
      return;
    }
    served[r] = (served[r] ?? 0) + 1;
    report(true, name, `${response.status} from ${r}, ${items.length} ` +
      `vectors of ${items[0].embedding.length} dims, ${want} on the wire ` +
      `(${Date.now() - t0} ms)`);
  } catch (err) {
    report(false, name, describeError(err));
  }
}

// Every job, interleaved (streams and embeddings spread among the chats),
// run by <concurrency> workers.
const jobs = [];
for (let i = 1; i <= nChats; i++) jobs.push(() => oneChat(i));
for (let i = 1; i <= nStreams; i++) {
  jobs.splice(Math.floor((i * jobs.length) / (nStreams + 1)), 0,
    () => oneStream(i));
}
for (let i = 1; i <= nEmbeddings; i++) {
  jobs.splice(Math.floor((i * jobs.length) / (nEmbeddings + 1)), 0,
    () => oneEmbedding(i));
}
let next = 0;
async function worker() {
  while (next < jobs.length) {
    const job = jobs[next++];
    await job();
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length || 1) },
  worker));

const servedLine = Object.keys(served).sort()
  .map((k) => `${k}=${served[k]}`).join(' ');
console.log(`# served ${servedLine || '-'}`);
console.log(`# errors ${failed}`);
console.log(`# ${passed} passed, ${failed} failed in ${Date.now() - started} ms`);
console.log(`1..${passed + failed}`);
process.exit(failed ? 1 : 0);
