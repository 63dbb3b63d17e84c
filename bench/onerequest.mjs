// Baseline for scenario 2: plain Node doing the same single API request the plugin makes.
import fs from 'node:fs';
import https from 'node:https';

const [url, ca] = process.argv.slice(2);
https.get(`${url}/api/v1/namespaces/default/pods`, { ca: fs.readFileSync(ca), headers: { Authorization: 'Bearer bench-token' } }, (res) => {
  res.resume();
  res.on('end', () => process.exit(res.statusCode === 200 ? 0 : 1));
});
