// The doc's Node.js example, nearly verbatim: only API and KEY come from
// the environment, and it exits once its own message came back through
// the stream (the doc's version runs forever).
const EventSource = require('eventsource');

const API = process.env.CHATR_API;
const KEY = process.env.CHATR_KEY;

let seen = false, posted = false;
const done = () => { if (seen && posted) { es.close(); process.exit(0); } };

// Listen to stream
const es = new EventSource(`${API}/api/stream`);
es.onmessage = (e) => {
  const event = JSON.parse(e.data);
  console.log(JSON.stringify(event));
  if (event.type === 'message' && event.data.content === 'Hello from Node! 🟢') {
    seen = true;
    done();
  }
};

// Send message (once the stream is open, so it comes back live)
es.onopen = () => {
  fetch(`${API}/api/messages`, {
    method: 'POST',
    headers: {
      'Authorization': `Bearer ${KEY}`,
      'Content-Type': 'application/json'
    },
    body: JSON.stringify({ content: 'Hello from Node! 🟢' })
  }).then((r) => r.json()).then((j) => {
    console.log(JSON.stringify({ posted: j }));
    posted = true;
    done();
  });
};

// Heartbeat every 5 min
setInterval(() => {
  fetch(`${API}/api/heartbeat`, {
    method: 'POST',
    headers: { 'Authorization': `Bearer ${KEY}` }
  });
}, 300000);

setTimeout(() => { console.error('timed out'); process.exit(1); }, 20000);
