// Drives `moa serve` with the official OpenAI Node client (npm openai, installed by scripts/fetch-openai-client.sh):
// reads the cases as JSON on stdin, runs each (chat or text completion, streamed or not), and prints one JSON array
// of what the client returned. Usage: node openai-client.cjs BASE_URL API_KEY < cases.json
const OpenAI = require('openai');
const [baseURL, apiKey] = process.argv.slice(2);
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });

async function run(c) {
  if (c.kind === 'chat' && !c.stream) {
    const r = await client.chat.completions.create(c.body);
    return { text: r.choices[0].message.content, finish: r.choices[0].finish_reason, usage: r.usage, object: r.object, role: r.choices[0].message.role };
  }
  if (c.kind === 'chat') {
    const stream = await client.chat.completions.create({ ...c.body, stream: true, stream_options: { include_usage: true } });
    let text = '', finish = null, usage = null, chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        if (choice.delta && choice.delta.content) text += choice.delta.content;
        if (choice.finish_reason) finish = choice.finish_reason;
      }
    }
    return { text, finish, usage, chunks };
  }
  if (!c.stream) {
    const r = await client.completions.create(c.body);
    return { text: r.choices[0].text, finish: r.choices[0].finish_reason, usage: r.usage, object: r.object };
  }
  const stream = await client.completions.create({ ...c.body, stream: true });
  let text = '', finish = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    for (const choice of chunk.choices) {
      text += choice.text || '';
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  return { text, finish, chunks };
}

(async () => {
  const out = [];
  for (const c of cases) {
    try {
      out.push(await run(c));
    } catch (e) {
      out.push({ error: e.constructor.name, status: e.status === undefined ? null : e.status, message: String(e.message) });
    }
  }
  try {
    const models = await client.models.list();
    out.push({ models: models.data.map((m) => m.id) });
  } catch (e) {
    out.push({ error: e.constructor.name, status: e.status === undefined ? null : e.status });
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
