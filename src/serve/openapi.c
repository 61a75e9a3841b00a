/* SPDX-License-Identifier: Apache-2.0 */
/*
 * openapi.c - the documents the server hands out: the OpenAPI 3.1
 * description generated from the route table (GET /openapi.json), a page to
 * try every route (GET /docs) and a reference page (GET /redoc). Both pages
 * are self-contained (inline script and style, no external files) and read
 * /openapi.json, so they show whatever the route table holds.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve_int.h"

/* components/schemas, except ValidationError (it depends on the error
 * style). Names are those of the route table's request/response/errors. */
static const char schemas_json[] =
    "{"
    "\"Ready\":{\"type\":\"object\",\"required\":[\"status\"],\"properties\":{\"status\":"
    "{\"type\":\"string\",\"enum\":[\"ready\",\"reloading\"]}}},"
    "\"Health\":{\"type\":\"object\",\"required\":[\"status\",\"model\",\"num_labels\",\"max_"
    "length\",\"layers\",\"hidden_size\",\"heads\",\"vocab_size\",\"parameters\",\"version\","
    "\"uptime_s\",\"reloads\"],\"properties\":{\"status\":{\"type\":\"string\",\"enum\":[\"ok"
    "\"]},\"model\":{\"type\":\"string\",\"description\":\"Model path as given to --model\"},"
    "\"num_labels\":{\"type\":\"integer\"},\"max_length\":{\"type\":\"integer\"},\"layers\":{"
    "\"type\":\"integer\"},\"hidden_size\":{\"type\":\"integer\"},\"heads\":{\"type\":\"integ"
    "er\"},\"vocab_size\":{\"type\":\"integer\"},\"parameters\":{\"type\":\"integer\"},\"base"
    "_model\":{\"type\":\"string\"},\"version\":{\"type\":\"string\"},\"uptime_s\":{\"type\":"
    "\"number\"},\"reloads\":{\"type\":\"integer\"}}},"
    "\"TextIn\":{\"type\":\"object\",\"required\":[\"text\"],\"properties\":{\"text\":{\"type"
    "\":\"string\",\"minLength\":1},\"top_k\":{\"type\":[\"integer\",\"null\"],\"minimum\":0,"
    "\"description\":\"Adds the top_k most probable intents (capped at the number of labels)."
    "\"}},\"example\":{\"text\":\"quiero ver las noticias\",\"top_k\":3}},"
    "\"BatchIn\":{\"type\":\"object\",\"required\":[\"texts\"],\"properties\":{\"texts\":{\"t"
    "ype\":\"array\",\"items\":{\"type\":\"string\",\"minLength\":1},\"description\":\"At mos"
    "t --max-batch texts.\"},\"top_k\":{\"type\":[\"integer\",\"null\"],\"minimum\":0}},\"exa"
    "mple\":{\"texts\":[\"hola\",\"quiero ver las noticias\"],\"top_k\":2}},"
    "\"LabelScore\":{\"type\":\"object\",\"required\":[\"intent\",\"confidence\"],\"propertie"
    "s\":{\"intent\":{\"type\":\"string\"},\"confidence\":{\"type\":\"number\"}}},"
    "\"Prediction\":{\"type\":\"object\",\"required\":[\"text\",\"intent\",\"confidence\"],\""
    "properties\":{\"text\":{\"type\":\"string\"},\"intent\":{\"type\":\"string\"},\"confiden"
    "ce\":{\"type\":\"number\"},\"top_k\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/compone"
    "nts/schemas/LabelScore\"}},"
    "\"fallback\":{\"type\":\"object\",\"description\":\"Only in a fallback answer: why "
    "(low_score, ambiguous, oos_class), the in-scope score, and the real top intent.\","
    "\"properties\":{\"reason\":{\"type\":\"string\"},\"score\":{\"type\":\"number\"},"
    "\"intent\":{\"type\":\"string\"},\"confidence\":{\"type\":\"number\"}}}}},"
    "\"BatchOut\":{\"type\":\"object\",\"required\":[\"results\"],\"properties\":{\"results\""
    ":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Prediction\"}}}},"
    "\"Intents\":{\"type\":\"object\",\"required\":[\"intents\"],\"properties\":{\"intents\":"
    "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}},"
    "\"PredictInput\":{\"description\":\"A text, a pair of texts (refused: single-text model)"
    " or a batch of one-text sequences.\",\"oneOf\":[{\"type\":\"string\"},{\"type\":\"array"
    "\",\"items\":{\"type\":\"string\"},\"minItems\":2,\"maxItems\":2},{\"type\":\"array\",\""
    "items\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":1,\"maxItems\":"
    "2}}]},"
    "\"PredictRequest\":{\"type\":\"object\",\"required\":[\"inputs\"],\"properties\":{\"inpu"
    "ts\":{\"$ref\":\"#/components/schemas/PredictInput\"},\"raw_scores\":{\"type\":\"boolean"
    "\",\"default\":false},\"truncate\":{\"type\":[\"boolean\",\"null\"],\"default\":false},"
    "\"truncation_direction\":{\"type\":\"string\",\"enum\":[\"right\",\"left\"],\"default\":"
    "\"right\",\"description\":\"Only right is supported.\"}},\"example\":{\"inputs\":\"quier"
    "o ver las noticias\"}},"
    "\"TEIPrediction\":{\"type\":\"object\",\"required\":[\"score\",\"label\"],\"properties\""
    ":{\"label\":{\"type\":\"string\"},\"score\":{\"type\":\"number\"}}},"
    "\"PredictResponse\":{\"oneOf\":[{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/s"
    "chemas/TEIPrediction\"}},{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\""
    "$ref\":\"#/components/schemas/TEIPrediction\"}}}]},"
    "\"ClassifierModel\":{\"type\":\"object\",\"required\":[\"id2label\",\"label2id\"],\"prop"
    "erties\":{\"id2label\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string"
    "\"}},\"label2id\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\",\""
    "minimum\":0}}}},"
    "\"Info\":{\"type\":\"object\",\"required\":[\"model_id\",\"model_dtype\",\"model_type\","
    "\"max_concurrent_requests\",\"max_input_length\",\"max_batch_tokens\",\"max_client_batch"
    "_size\",\"auto_truncate\",\"tokenization_workers\",\"version\"],\"properties\":{\"model_"
    "id\":{\"type\":\"string\"},\"model_sha\":{\"type\":[\"string\",\"null\"]},\"model_dtype"
    "\":{\"type\":\"string\"},\"model_type\":{\"type\":\"object\",\"required\":[\"classifier"
    "\"],\"properties\":{\"classifier\":{\"$ref\":\"#/components/schemas/ClassifierModel\"}}}"
    ",\"max_concurrent_requests\":{\"type\":\"integer\",\"minimum\":0},\"max_input_length\":{"
    "\"type\":\"integer\",\"minimum\":0},\"max_batch_tokens\":{\"type\":\"integer\",\"minimum"
    "\":0},\"max_batch_requests\":{\"type\":[\"integer\",\"null\"],\"minimum\":0},\"max_clien"
    "t_batch_size\":{\"type\":\"integer\",\"minimum\":0},\"auto_truncate\":{\"type\":\"boolea"
    "n\"},\"tokenization_workers\":{\"type\":\"integer\",\"minimum\":0},\"version\":{\"type\""
    ":\"string\"},\"sha\":{\"type\":[\"string\",\"null\"]},\"docker_label\":{\"type\":[\"stri"
    "ng\",\"null\"]}}},"
    "\"TEIError\":{\"type\":\"object\",\"required\":[\"error\",\"error_type\"],\"properties\""
    ":{\"error\":{\"type\":\"string\"},\"error_type\":{\"type\":\"string\",\"enum\":[\"valida"
    "tion\",\"tokenizer\",\"backend\",\"overloaded\",\"unhealthy\"]}}},"
    "\"ParseRequest\":{\"type\":\"object\",\"required\":[\"text\"],\"properties\":{\"text\":{"
    "\"type\":\"string\"},\"message_id\":{\"type\":[\"string\",\"null\"]}},\"example\":{\"tex"
    "t\":\"quiero ver las noticias\",\"message_id\":\"b2831e73-1407-4ba0-a861-0f30a42a2a5a\"}"
    "},"
    "\"RasaIntent\":{\"type\":\"object\",\"required\":[\"name\",\"confidence\"],\"properties"
    "\":{\"name\":{\"type\":\"string\"},\"confidence\":{\"type\":\"number\"}}},"
    "\"ParseResult\":{\"type\":\"object\",\"required\":[\"text\",\"intent\",\"entities\",\"in"
    "tent_ranking\"],\"properties\":{\"text\":{\"type\":\"string\"},\"intent\":{\"$ref\":\"#/"
    "components/schemas/RasaIntent\"},\"entities\":{\"type\":\"array\",\"maxItems\":0,\"items"
    "\":{\"type\":\"object\"}},\"intent_ranking\":{\"type\":\"array\",\"maxItems\":10,\"items"
    "\":{\"$ref\":\"#/components/schemas/RasaIntent\"}}}},"
    "\"Status\":{\"type\":\"object\",\"required\":[\"model_file\",\"model_id\",\"num_active_t"
    "raining_jobs\"],\"properties\":{\"model_file\":{\"type\":\"string\"},\"model_id\":{\"typ"
    "e\":\"string\"},\"num_active_training_jobs\":{\"type\":\"integer\"}}},"
    "\"RasaError\":{\"type\":\"object\",\"required\":[\"version\",\"status\",\"message\",\"re"
    "ason\",\"details\",\"help\",\"code\"],\"properties\":{\"version\":{\"type\":\"string\"},"
    "\"status\":{\"type\":\"string\",\"enum\":[\"failure\"]},\"message\":{\"type\":\"string\""
    "},\"reason\":{\"type\":\"string\"},\"details\":{\"type\":\"object\"},\"help\":{\"type\":"
    "[\"string\",\"null\"]},\"code\":{\"type\":\"integer\"}}},"
    "\"Detail\":{\"type\":\"object\",\"required\":[\"detail\"],\"properties\":{\"detail\":{\""
    "type\":\"string\"}}},"
    "\"HTTPValidationError\":{\"type\":\"object\",\"required\":[\"detail\"],\"properties\":{"
    "\"detail\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/ValidationErro"
    "r\"}}}},"
    "\"PlainText\":{\"type\":\"string\"},"
    "\"HtmlPage\":{\"type\":\"string\"},"
    "\"OpenAPIDocument\":{\"type\":\"object\"}"
    "}";

/* FastAPI's ValidationError with pydantic 2 (input is any JSON value). */
static const char validation_error_v2[] =
    "{\"type\":\"object\",\"required\":[\"type\",\"loc\",\"msg\",\"input\"],\"properties\":{"
    "\"type\":{\"type\":\"string\"},\"loc\":{\"type\":\"array\",\"items\":{\"type\":"
    "[\"string\",\"integer\"]}},\"msg\":{\"type\":\"string\"},\"input\":{},"
    "\"ctx\":{\"type\":\"object\"}}}";

/* FastAPI 0.9x with pydantic 1. */
static const char validation_error_legacy[] =
    "{\"type\":\"object\",\"required\":[\"loc\",\"msg\",\"type\"],\"properties\":{"
    "\"loc\":{\"type\":\"array\",\"items\":{\"type\":[\"string\",\"integer\"]}},"
    "\"msg\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},"
    "\"ctx\":{\"type\":\"object\"}}}";

static const char *status_text(int code)
{
    switch (code) {
    case 400: return "Bad request (not JSON)";
    case 401: return "Missing or wrong API key";
    case 413: return "Too large (body, batch or text)";
    case 415: return "Not a JSON content type";
    case 422: return "Validation error";
    case 429: return "Overloaded";
    case 503: return "Not ready";
    default: return "Error";
    }
}

/* {"description": ..., "content": {media: {"schema": {"$ref": ...}}}} */
static json_t *response_obj(const char *description, const char *media, const char *schema)
{
    char ref[128];
    snprintf(ref, sizeof ref, "#/components/schemas/%s", schema);
    return json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", description, "content", media,
                     "schema", "$ref", ref);
}

/* "413:Detail 422:HTTPValidationError" -> responses entries. */
static int add_errors(json_t *responses, const char *spec)
{
    const char *p = spec;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        int code = 0, n = 0;
        char schema[64];
        if (sscanf(p, "%d:%63[A-Za-z0-9_]%n", &code, schema, &n) != 2)
            return -1;
        char key[8];
        snprintf(key, sizeof key, "%d", code);
        json_object_set_new(responses, key,
                            response_obj(status_text(code), "application/json", schema));
        p += n;
    }
    return 0;
}

/* With --api-key: the route needs the key. */
static int locked(const struct ic__api_op *op, int bearer, int open_health)
{
    return bearer && (op->access == IC__ACCESS_KEY ||
                      (op->access == IC__ACCESS_HEALTH && !open_health));
}

static json_t *operation_obj(const struct ic__api_op *op, int lock)
{
    char ref[128];
    json_t *o = json_pack("{s:[s], s:s, s:s, s:s}", "tags", op->tag, "summary", op->summary,
                          "description", op->description, "operationId", op->id);
    if (!o)
        return NULL;
    if (op->request) {
        snprintf(ref, sizeof ref, "#/components/schemas/%s", op->request);
        json_object_set_new(o, "requestBody",
                            json_pack("{s:b, s:{s:{s:{s:s}}}}", "required", 1, "content",
                                      "application/json", "schema", "$ref", ref));
    }
    json_t *responses = json_object();
    json_object_set_new(responses, "200",
                        response_obj("Successful Response", op->media, op->response));
    if (add_errors(responses, op->errors)) {
        json_decref(responses);
        json_decref(o);
        return NULL;
    }
    if (lock) {
        json_object_set_new(responses, "401",
                            op->unauth ? response_obj(status_text(401), "application/json",
                                                      op->unauth)
                                       : json_pack("{s:s}", "description", status_text(401)));
        json_object_set_new(o, "security", json_pack("[{s:[]}]", "HTTPBearer"));
    }
    json_object_set_new(o, "responses", responses);
    return o;
}

static json_t *components_obj(int legacy_errors, int bearer, struct ic_err *err)
{
    json_error_t je;
    json_t *schemas = json_loads(schemas_json, 0, &je);
    json_t *ve = json_loads(legacy_errors ? validation_error_legacy : validation_error_v2, 0,
                            &je);
    if (!schemas || !ve) {
        json_decref(schemas);
        json_decref(ve);
        ic_errf(err, IC_ERR_FORMAT, "openapi: schema text: %s", je.text);
        return NULL;
    }
    json_object_set_new(schemas, "ValidationError", ve);
    if (bearer)
        return json_pack("{s:o, s:{s:{s:s, s:s}}}", "schemas", schemas, "securitySchemes",
                         "HTTPBearer", "type", "http", "scheme", "bearer");
    return json_pack("{s:o}", "schemas", schemas);
}

char *ic__openapi_build(int legacy_errors, int bearer, int open_health, size_t *len,
                        struct ic_err *err)
{
    json_t *paths = json_object();
    for (int i = 0; ic__server_api_op(i); i++) {
        const struct ic__api_op *op = ic__server_api_op(i);
        char method[8];
        size_t k = 0;
        for (; op->method[k] && k + 1 < sizeof method; k++)
            method[k] = (char)tolower((unsigned char)op->method[k]);
        method[k] = 0;
        json_t *item = json_object_get(paths, op->path);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, op->path, item);
        }
        json_t *o = operation_obj(op, locked(op, bearer, open_health));
        if (!o) {
            json_decref(paths);
            ic_errf(err, IC_ERR_FORMAT, "openapi: route %s %s: bad errors spec \"%s\"",
                    op->method, op->path, op->errors);
            return NULL;
        }
        json_object_set_new(item, method, o);
    }
    json_t *comp = components_obj(legacy_errors, bearer, err);
    if (!comp) {
        json_decref(paths);
        return NULL;
    }
    json_t *root = json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:o, s:o}", "openapi", "3.1.0", "info", "title", "intent",
        "version", IC_VERSION, "description",
        "Intent classification with a fine-tuned BERT model. The intent routes answer "
        "FastAPI's error bodies ({\"detail\": ...}), /predict and /info follow Hugging Face "
        "text-embeddings-inference, /model/parse and /status follow Rasa.",
        "paths", paths, "components", comp);
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!s) {
        ic_errf(err, IC_ERR_NOMEM, "openapi: cannot build the document");
        return NULL;
    }
    char *out = ic_xstrdup(s);
    free(s);
    *len = strlen(out);
    return out;
}

static const char docs_html[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\"><title>intent - try the API</title>\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<style>\n"
    "body{font-family:sans-serif;max-width:64em;margin:1.5em auto;padding:0 1em;color:#222}\n"
    "h2{border-bottom:1px solid #ccc;margin-top:1.5em}\n"
    ".op{margin:.8em 0;padding:.5em 1em;border:1px solid #ddd;border-radius:4px}\n"
    ".m{display:inline-block;min-width:4em;font-weight:bold}.get{color:#1565c0}.post{color:#2"
    "e7d32}\n"
    "pre{background:#f6f6f6;padding:.5em;overflow:auto;max-height:24em}\n"
    "textarea{width:100%;font-family:monospace}input[type=text]{width:70%;padding:.3em}\n"
    "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .6em;text-align:"
    "left}\n"
    ".bar{background:#90caf9;height:.8em}.st{font-weight:bold}\n"
    "</style></head>\n"
    "<body><h1>intent</h1>\n"
    "<p>Type a sentence to see how the model ranks the intents. Every route of the\n"
    "<a href=\"/openapi.json\">OpenAPI document</a> can be tried below; the reference is at <"
    "a href=\"/redoc\">/redoc</a>.</p>\n"
    "<p><label>API key (sent as <code>Authorization: Bearer</code>, if set) <input id=\"apike"
    "y\" type=\"password\" size=\"30\"></label></p>\n"
    "<form id=\"play\"><input id=\"text\" type=\"text\" placeholder=\"a sentence\" autofocus>"
    " <button id=\"go\" type=\"submit\">Rank intents</button></form>\n"
    "<div id=\"ranking\"></div>\n"
    "<h2>Routes</h2><div id=\"ops\">Loading /openapi.json...</div>\n"
    "<script>\n"
    "'use strict';\n"
    "function esc(s){return String(s).replace(/[&<>\"']/g,function(c){return{'&':'&amp;','<':"
    "'&lt;','>':'&gt;','\"':'&quot;',\"'\":'&#39;'}[c];});}\n"
    "function headers(body){var h={};var k=document.getElementById('apikey').value;if(k)h['Au"
    "thorization']='Bearer '+k;if(body)h['Content-Type']='application/json';return h;}\n"
    "function call(method,path,body){return fetch(path,{method:method,headers:headers(body),b"
    "ody:body||undefined}).then(function(r){return r.text().then(function(t){return{status:r."
    "status,text:t};});});}\n"
    "function pretty(t){try{return JSON.stringify(JSON.parse(t),null,2);}catch(e){return t;}}"
    "\n"
    "document.getElementById('play').addEventListener('submit',function(ev){\n"
    " ev.preventDefault();var out=document.getElementById('ranking');out.textContent='...';\n"
    " call('POST','/classify',JSON.stringify({text:document.getElementById('text').value,top_"
    "k:1000})).then(function(r){\n"
    "  if(r.status!==200){out.innerHTML='<p class=\"st\">'+r.status+'</p><pre>'+esc(pretty(r."
    "text))+'</pre>';return;}\n"
    "  var d=JSON.parse(r.text);var h='<table id=\"ranktable\"><tr><th>intent</th><th>confide"
    "nce</th><th></th></tr>';\n"
    "  (d.top_k||[{intent:d.intent,confidence:d.confidence}]).forEach(function(x){\n"
    "   h+='<tr><td class=\"intent\">'+esc(x.intent)+'</td><td class=\"conf\">'+x.confidence."
    "toFixed(4)+'</td><td><div class=\"bar\" style=\"width:'+Math.round(x.confidence*200)+'px"
    "\"></div></td></tr>';});\n"
    "  out.innerHTML=h+'</table>';\n"
    " }).catch(function(e){out.textContent='request failed: '+e;});\n"
    "});\n"
    "function example(d,op){var s=op.requestBody&&op.requestBody.content['application/json']."
    "schema;\n"
    " if(s&&s.$ref){var c=d.components.schemas[s.$ref.split('/').pop()];if(c&&c.example)retur"
    "n JSON.stringify(c.example,null,1);}return '{}';}\n"
    "fetch('/openapi.json',{headers:headers(false)}).then(function(r){return r.json();}).then"
    "(function(d){\n"
    " var box=document.getElementById('ops');box.innerHTML='';var n=0;\n"
    " Object.keys(d.paths).forEach(function(p){Object.keys(d.paths[p]).forEach(function(m){\n"
    "  var op=d.paths[p][m],id='op'+(n++),div=document.createElement('div');div.className='op"
    "';div.id='route-'+op.operationId;\n"
    "  var h='<span class=\"m '+m+'\">'+m.toUpperCase()+'</span> <code>'+esc(p)+'</code> - '+"
    "esc(op.summary||'')+'<p>'+esc(op.description||'')+'</p>';\n"
    "  if(op.requestBody)h+='<textarea id=\"'+id+'-body\" rows=\"4\">'+esc(example(d,op))+'</"
    "textarea>';\n"
    "  h+='<button id=\"'+id+'-send\">Send</button> <span class=\"st\" id=\"'+id+'-st\"></spa"
    "n><pre id=\"'+id+'-out\" hidden></pre>';\n"
    "  div.innerHTML=h;box.appendChild(div);\n"
    "  document.getElementById(id+'-send').addEventListener('click',function(){\n"
    "   var b=op.requestBody?document.getElementById(id+'-body').value:null;\n"
    "   call(m.toUpperCase(),p,b).then(function(r){document.getElementById(id+'-st').textCont"
    "ent=r.status;\n"
    "    var o=document.getElementById(id+'-out');o.hidden=false;o.textContent=r.text.length>"
    "20000?r.text.slice(0,20000)+'...':pretty(r.text);});});\n"
    " });});\n"
    "}).catch(function(e){document.getElementById('ops').textContent='cannot load /openapi.js"
    "on: '+e;});\n"
    "</script></body></html>\n";

static const char redoc_html[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\"><title>intent - API reference</title>\n"
    "<style>\n"
    "body{font-family:sans-serif;margin:0;color:#222;display:flex}\n"
    "nav{width:16em;background:#f4f4f4;height:100vh;overflow:auto;position:sticky;top:0;paddi"
    "ng:1em;box-sizing:border-box;font-size:.9em}\n"
    "nav a{display:block;color:#333;text-decoration:none;margin:.2em 0}main{flex:1;padding:1e"
    "m 2em;max-width:56em}\n"
    ".m{display:inline-block;min-width:3.5em;font-weight:bold;font-size:.8em;padding:.1em .4e"
    "m;border-radius:3px;color:#fff}\n"
    ".get{background:#1565c0}.post{background:#2e7d32}\n"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border-bottom:1px solid #ddd;padding:"
    ".25em .7em;text-align:left;vertical-align:top}\n"
    "code{background:#f0f0f0;padding:0 .2em}.req{color:#c62828;font-size:.8em}\n"
    "</style></head>\n"
    "<body><nav id=\"nav\">Loading...</nav><main id=\"main\"><h1>intent API reference</h1><p>"
    "Loading /openapi.json...</p></main>\n"
    "<script>\n"
    "'use strict';\n"
    "function esc(s){return String(s).replace(/[&<>\"']/g,function(c){return{'&':'&amp;','<':"
    "'&lt;','>':'&gt;','\"':'&quot;',\"'\":'&#39;'}[c];});}\n"
    "function ref(s){return s&&s.$ref?s.$ref.split('/').pop():null;}\n"
    "function typ(s){if(!s)return '';var r=ref(s);if(r)return '<a href=\"#schema-'+esc(r)+'\""
    ">'+esc(r)+'</a>';\n"
    " if(s.oneOf)return s.oneOf.map(typ).join(' | ');var t=Array.isArray(s.type)?s.type.join("
    "' | '):(s.type||'any');\n"
    " if(s.type==='array')t='array of '+typ(s.items);if(s.enum)t+=' ('+s.enum.map(function(e)"
    "{return esc(JSON.stringify(e));}).join(', ')+')';return t;}\n"
    "function fields(s){if(!s||!s.properties)return '<p>'+typ(s)+'</p>';var req=s.required||["
    "];\n"
    " var h='<table><tr><th>field</th><th>type</th><th>description</th></tr>';Object.keys(s.p"
    "roperties).forEach(function(k){var p=s.properties[k];\n"
    "  h+='<tr><td><code>'+esc(k)+'</code>'+(req.indexOf(k)>=0?' <span class=\"req\">required"
    "</span>':'')+'</td><td>'+typ(p)+'</td><td>'+esc(p.description||'')+'</td></tr>';});retur"
    "n h+'</table>';}\n"
    "fetch('/openapi.json').then(function(r){return r.json();}).then(function(d){\n"
    " var nav='<b>'+esc(d.info.title)+' '+esc(d.info.version)+'</b>',main='<h1>'+esc(d.info.t"
    "itle)+' API reference</h1><p>'+esc(d.info.description||'')+'</p>';\n"
    " Object.keys(d.paths).forEach(function(p){Object.keys(d.paths[p]).forEach(function(m){va"
    "r op=d.paths[p][m],a='op-'+op.operationId;\n"
    "  nav+='<a href=\"#'+a+'\"><span class=\"m '+m+'\">'+m.toUpperCase()+'</span> '+esc(p)+'"
    "</a>';\n"
    "  main+='<section id=\"'+a+'\"><h2><span class=\"m '+m+'\">'+m.toUpperCase()+'</span> <c"
    "ode>'+esc(p)+'</code> '+esc(op.summary||'')+'</h2><p>'+esc(op.description||'')+'</p>';\n"
    "  if(op.requestBody)main+='<h3>Request body</h3>'+typ(op.requestBody.content['applicatio"
    "n/json'].schema);\n"
    "  main+='<h3>Responses</h3><table>';Object.keys(op.responses).forEach(function(c){var r="
    "op.responses[c],ct=r.content?Object.keys(r.content)[0]:null;\n"
    "   main+='<tr><td><b>'+esc(c)+'</b></td><td>'+esc(r.description)+'</td><td>'+(ct?esc(ct)"
    "+': '+typ(r.content[ct].schema):'')+'</td></tr>';});\n"
    "  main+='</table></section>';});});\n"
    " nav+='<b>Schemas</b>';main+='<h2>Schemas</h2>';\n"
    " Object.keys(d.components.schemas).forEach(function(k){nav+='<a href=\"#schema-'+esc(k)+"
    "'\">'+esc(k)+'</a>';\n"
    "  main+='<section id=\"schema-'+esc(k)+'\"><h3>'+esc(k)+'</h3>'+fields(d.components.sche"
    "mas[k])+'</section>';});\n"
    " document.getElementById('nav').innerHTML=nav;document.getElementById('main').innerHTML="
    "main;\n"
    "}).catch(function(e){document.getElementById('main').textContent='cannot load /openapi.j"
    "son: '+e;});\n"
    "</script></body></html>\n";

const char *ic__docs_html(size_t *len)
{
    *len = sizeof docs_html - 1;
    return docs_html;
}

const char *ic__redoc_html(size_t *len)
{
    *len = sizeof redoc_html - 1;
    return redoc_html;
}
