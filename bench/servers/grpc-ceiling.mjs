// The gRPC ceiling: a grpc-js GRPCInferenceService whose ModelInfer answers a canned raw
// response without inference. With bench/grpc-load.mjs it shows what grpc-js itself (client and
// server, on this machine) allows, as the HTTP ceiling does for Fastify.
//
//   node bench/servers/grpc-ceiling.mjs --port 18095
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const { values } = parseArgs({ options: { port: { type: 'string' } } });
const definition = protoLoader.loadSync(join(ROOT, 'proto', 'grpc_service.proto'), {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
});
const { GRPCInferenceService } = grpc.loadPackageDefinition(definition).inference;

const label = Buffer.alloc(8);
label.writeBigInt64LE(1n);
const probabilities = Buffer.from(new Float32Array([0.015, 0.985]).buffer);

const server = new grpc.Server({ 'grpc.max_receive_message_length': 256 * 1024 * 1024, 'grpc.enable_channelz': 0 });
server.addService(GRPCInferenceService.service, {
  ServerLive: (_call, callback) => callback(null, { live: true }),
  ModelInfer: (call, callback) =>
    callback(null, {
      model_name: call.request.model_name,
      outputs: [
        { name: 'label', datatype: 'INT64', shape: [1] },
        { name: 'probabilities', datatype: 'FP32', shape: [1, 2] },
      ],
      raw_output_contents: [label, probabilities],
    }),
});
server.bindAsync(`127.0.0.1:${values.port}`, grpc.ServerCredentials.createInsecure(), (error) => {
  if (error) throw error;
  console.log(`grpc ceiling on 127.0.0.1:${values.port}`);
});
process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
