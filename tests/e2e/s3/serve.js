// An S3-compatible server on loopback for tests/e2e/test_mirror.py:
//   node serve.js DIR PORT BUCKET
// @20minutes/s3rver with its one account (access key S3RVER, secret S3RVER); requests whose
// SigV4 signature does not match are refused (403 SignatureDoesNotMatch). Prints
// "listening PORT" once it accepts, and a line per request.
'use strict';
const S3rver = require('@20minutes/s3rver');

const [dir, port, bucket] = process.argv.slice(2);
if (!dir || !port || !bucket) {
  console.error('usage: node serve.js DIR PORT BUCKET');
  process.exit(2);
}
new S3rver({
  address: '127.0.0.1',
  port: Number(port),
  directory: dir,
  silent: false,
  allowMismatchedSignatures: false,
  configureBuckets: [{ name: bucket, configs: [] }],
})
  .run()
  .then((a) => console.log(`listening ${a.port}`))
  .catch((e) => {
    console.error(e && e.stack ? e.stack : String(e));
    process.exit(1);
  });
