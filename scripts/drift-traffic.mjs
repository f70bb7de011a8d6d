// The demo's drift: send breast_cancer rows whose first 20 features are scaled by 1.5
// (fixtures/monitor/breast_cancer_shifted.json) through the deployment cancer-live, each followed by
// its true label as feedback, so the pipeline cancer-retrain's drift trigger fires and its run has
// labelled data. Then keep sending (without feedback) for --seconds so the candidate's rollout sees
// traffic at each step.
//
//   node scripts/drift-traffic.mjs [--url http://127.0.0.1:8080] [--rounds 2] [--seconds 60] [--token T]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    rounds: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '60' },
    token: { type: 'string', default: process.env.SLIPWAY_TOKEN ?? '' },
  },
});
const rows = JSON.parse(
  readFileSync(new URL('../fixtures/monitor/breast_cancer_shifted.json', import.meta.url), 'utf8'),
);
const headers = {
  'content-type': 'application/json',
  ...(values.token ? { authorization: `Bearer ${values.token}` } : {}),
};

async function post(path, body) {
  const response = await fetch(`${values.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const json = await response.json();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

let sent = 0;
for (let round = 0; round < Number(values.rounds); round++)
  for (const [i, input] of rows.inputs.entries()) {
    const answer = await post('/v2/models/cancer-live/infer', { inputs: [input] });
    await post('/api/v1/feedback', { request_id: answer.id, label: Number(rows.labels[i]) });
    sent++;
  }
console.log(`${sent} shifted requests sent through cancer-live, each with its true label as feedback`);
const until = Date.now() + Number(values.seconds) * 1000;
let more = 0;
while (Date.now() < until) {
  for (const input of rows.inputs.slice(0, 20)) await post('/v2/models/cancer-live/infer', { inputs: [input] });
  more += 20;
  await new Promise((resolve) => setTimeout(resolve, 500));
}
console.log(`${more} more requests (no feedback) over ${values.seconds}s for the rollout's steps`);
