// Classify texts with transformers.js, the way a JavaScript user loads a model from the Hub.
// usage: node classify.mjs HUB_URL MODEL_ID DTYPE TEXT...   (prints one JSON list of answers)
import { env, pipeline } from "@huggingface/transformers";

const [hubUrl, modelId, dtype, ...texts] = process.argv.slice(2);
env.allowLocalModels = false;
env.remoteHost = hubUrl.endsWith("/") ? hubUrl : `${hubUrl}/`;
env.remotePathTemplate = "{model}/resolve/{revision}/";
if (process.env.TRANSFORMERS_JS_CACHE) env.cacheDir = process.env.TRANSFORMERS_JS_CACHE;

const classify = await pipeline("text-classification", modelId, { dtype });
const answers = [];
for (const text of texts) answers.push(await classify(text, { top_k: null }));
console.log(JSON.stringify(answers));
