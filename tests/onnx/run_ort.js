// The ONNX Runtime half of the round trip (roundtrip.py runs it):
//   node run_ort.js ORT_PACKAGE_DIR DIR NAME:DIMS ...
// runs DIR/NAME.onnx on DIR/NAME.input.f32 ([1000, DIMS...]) with one
// thread, writes each output to DIR/NAME.ort.OUTPUT.f32 and prints one JSON
// line per model: its output names and the seconds of the best of five
// timed runs.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
    const [ortDir, dir, ...models] = process.argv.slice(2);
    const ort = require(ortDir);
    for (const spec of models) {
        const [name, dimText] = spec.split(':');
        const dims = [1000, ...dimText.split(',').map(Number)];
        const session = await ort.InferenceSession.create(path.join(dir, name + '.onnx'), {
            intraOpNumThreads: 1,
            interOpNumThreads: 1,
            executionMode: 'sequential',
        });
        const bytes = fs.readFileSync(path.join(dir, name + '.input.f32'));
        const x = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
        const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, dims) };
        await session.run(feeds); // warm-up
        let out = null;
        let seconds = Infinity; // the best of five runs
        for (let r = 0; r < 5; r++) {
            const t0 = process.hrtime.bigint();
            out = await session.run(feeds);
            seconds = Math.min(seconds, Number(process.hrtime.bigint() - t0) / 1e9);
        }
        for (const o of session.outputNames) {
            const data = out[o].data;
            fs.writeFileSync(path.join(dir, `${name}.ort.${o}.f32`),
                             Buffer.from(data.buffer, data.byteOffset, data.byteLength));
        }
        console.log(JSON.stringify({ name, outputs: session.outputNames, seconds }));
    }
}

main().catch((e) => {
    console.error(e && e.stack ? e.stack : String(e));
    process.exit(1);
});
