#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Opens a torch.save archive the way torch.load(path, weights_only=True)
of torch >= 2.0 does, with the Python standard library only (no torch).

usage: weights_only_check.py load FILE.pt
           prints the object's outline as JSON (tensors as {"dtype", "shape"})
       weights_only_check.py model MODEL_DIR
           checks MODEL_DIR/intent_classifier.pt against config.json and
           model.safetensors; prints ok/FAIL lines
       weights_only_check.py refuse DIR
           writes crafted archives into DIR (DIR/refuse_*.pt: a disallowed
           global, an opcode outside the set, a persistent id that is not a
           storage; DIR/accept_*.pt: plain protocol-2 pickles, a tensor) and
           checks that the refuse_* ones are refused and the accept_* ones
           load; prints ok/FAIL lines

The rules implemented (torch/_weights_only_unpickler.py):
- opcodes: the set torch 1.13's weights-only Unpickler dispatches on
  (PROTO STOP MARK GLOBAL REDUCE BUILD NEWOBJ APPEND APPENDS SETITEM
  SETITEMS TUPLE TUPLE1-3 NONE NEWFALSE NEWTRUE EMPTY_TUPLE EMPTY_LIST
  EMPTY_DICT EMPTY_SET BININT BININT1 BININT2 LONG1 BINUNICODE
  SHORT_BINSTRING BINPERSID BINPUT LONG_BINPUT BINGET LONG_BINGET) plus
  BINFLOAT, added in torch 2.0 (pytorch PR 94910). Anything else
  (STACK_GLOBAL, FRAME, MEMOIZE, SHORT_BINUNICODE, BINBYTES, INST, ...) is
  refused, as torch refuses it with "Unsupported operand".
- globals: only those both torch 1.13 and current torch allow by default,
  so every torch 2.x accepts them: collections.OrderedDict,
  torch.nn.parameter.Parameter, torch.serialization._get_layout, torch.Size,
  torch.Tensor, the dtypes, the legacy tensor and storage classes,
  torch.storage.TypedStorage/UntypedStorage and the rebuild functions
  torch._utils._rebuild_tensor, _rebuild_tensor_v2, _rebuild_parameter,
  _rebuild_sparse_tensor, _rebuild_meta_tensor_no_storage.
- persistent ids: only ('storage', <storage class>, key, location, numel),
  resolved to the archive's <folder>/data/<key> record.
"""
import collections
import io
import json
import os
import pickle
import pickletools
import struct
import sys
import zipfile

ALLOWED_OPCODES = frozenset("""
    PROTO STOP MARK GLOBAL REDUCE BUILD NEWOBJ APPEND APPENDS SETITEM SETITEMS
    TUPLE TUPLE1 TUPLE2 TUPLE3 NONE NEWFALSE NEWTRUE EMPTY_TUPLE EMPTY_LIST
    EMPTY_DICT EMPTY_SET BININT BININT1 BININT2 LONG1 BINUNICODE SHORT_BINSTRING
    BINPERSID BINPUT LONG_BINPUT BINGET LONG_BINGET BINFLOAT""".split())

# storage class -> (struct format of one element, element size)
STORAGE_ELEMS = {
    "Double": ("d", 8), "Float": ("f", 4), "Half": ("e", 2), "BFloat16": ("H", 2),
    "Long": ("q", 8), "Int": ("i", 4), "Short": ("h", 2), "Char": ("b", 1),
    "Byte": ("B", 1), "Bool": ("?", 1), "ComplexDouble": ("dd", 16),
    "ComplexFloat": ("ff", 8),
}
QUANTIZED = ["QUInt8", "QInt8", "QInt32", "QUInt4x2", "QUInt2x4"]
TENSOR_KINDS = ["Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char",
                "Byte", "Bool"]
DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "complex32",
          "complex64", "complex128"]
REBUILD = ["_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter",
           "_rebuild_sparse_tensor", "_rebuild_meta_tensor_no_storage"]


class Refused(Exception):
    """What torch's weights-only load would refuse."""


class StorageType:
    def __init__(self, name):
        self.name = name  # "Float" for torch.FloatStorage


class Storage:
    def __init__(self, kind, raw):
        self.kind, self.raw = kind, raw


class Tensor:
    """A tensor rebuilt from its storage: dtype kind, shape, raw bytes of
    its elements in row-major order."""

    def __init__(self, kind, shape, raw):
        self.kind, self.shape, self.raw = kind, tuple(shape), raw


class Opaque:
    """An allowed global this checker has no model of (torch.Size, ...)."""

    def __init__(self, name, args=()):
        self.name, self.args = name, args

    def __call__(self, *args):
        return Opaque(self.name, args)


def rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None,
                      metadata=None):
    if not isinstance(storage, Storage):
        raise Refused("_rebuild_tensor_v2 on %r, not a storage" % (storage,))
    esize = STORAGE_ELEMS[storage.kind][1]
    out = bytearray()
    n = 1
    for d in size:
        n *= d
    for flat in range(n):
        at, rest = offset, flat
        for d in reversed(range(len(size))):
            at += (rest % size[d]) * stride[d]
            rest //= size[d]
        if (at + 1) * esize > len(storage.raw):
            raise Refused("tensor view past its storage")
        out += storage.raw[at * esize:(at + 1) * esize]
    return Tensor(storage.kind, size, bytes(out))


def allowed_globals():
    g = {"collections.OrderedDict": collections.OrderedDict,
         "torch._utils._rebuild_tensor_v2": rebuild_tensor_v2}
    for name in ["torch.nn.parameter.Parameter", "torch.serialization._get_layout",
                 "torch.Size", "torch.Tensor", "torch.storage.TypedStorage",
                 "torch.storage.UntypedStorage"]:
        g[name] = Opaque(name)
    g.update(("torch." + d, Opaque("torch." + d)) for d in DTYPES)
    for r in REBUILD:
        g.setdefault("torch._utils." + r, Opaque("torch._utils." + r))
    for k in TENSOR_KINDS:
        for mod in ("torch", "torch.cuda", "torch.sparse", "torch.cuda.sparse"):
            if not (mod.endswith("sparse") and k == "Bool"):
                g["%s.%sTensor" % (mod, k)] = Opaque("%s.%sTensor" % (mod, k))
    for k in list(STORAGE_ELEMS) + QUANTIZED:
        g["torch.%sStorage" % k] = StorageType(k)
        if k not in QUANTIZED:
            g["torch.cuda.%sStorage" % k] = StorageType(k)
    return g


class WeightsOnlyUnpickler(pickle.Unpickler):
    def __init__(self, data, records, folder):
        super().__init__(io.BytesIO(data))
        self.records, self.folder = records, folder
        self.allowed = allowed_globals()

    def find_class(self, module, name):
        full = "%s.%s" % (module, name)
        if full not in self.allowed:
            raise Refused("disallowed global %s" % full)
        return self.allowed[full]

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise Refused("persistent id %r is not a storage" % (pid,))
        stype, key, _location, numel = pid[1:5]
        if not isinstance(stype, StorageType) or stype.name in QUANTIZED:
            raise Refused("persistent id with storage type %r" % (stype,))
        rec = "%s/data/%s" % (self.folder, key)
        if rec not in self.records:
            raise Refused("no record %s" % rec)
        raw = self.records[rec]
        if len(raw) < numel * STORAGE_ELEMS[stype.name][1]:
            raise Refused("record %s shorter than %d elements" % (rec, numel))
        return Storage(stype.name, raw)


def check_opcodes(data):
    for op, _arg, pos in pickletools.genops(data):
        if op.name not in ALLOWED_OPCODES:
            raise Refused("opcode %s at byte %d is outside the weights-only set" % (op.name, pos))


def load(path):
    """The object in the torch.save archive at path, or Refused."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        folder = names[0].split("/")[0]
        records = {n: z.read(n) for n in names}
    pkl = records.get(folder + "/data.pkl")
    if pkl is None:
        raise Refused("no %s/data.pkl" % folder)
    check_opcodes(pkl)
    return WeightsOnlyUnpickler(pkl, records, folder).load()


def outline(o):
    if isinstance(o, Tensor):
        return {"dtype": o.kind, "shape": list(o.shape)}
    if isinstance(o, dict):
        return {str(k): outline(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [outline(v) for v in o]
    if isinstance(o, Opaque):
        return "<%s>" % o.name
    return o


def same_typed(a, b):
    """a == b with the JSON types kept (True is not 1, 1.0 is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_typed(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_typed(x, y) for x, y in zip(a, b))
    return a == b


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    hdr.pop("__metadata__", None)
    buf = raw[8 + n:]
    return {k: (v["dtype"], v["shape"], buf[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in hdr.items()}


failed = 0


def check(name, cond, why=""):
    global failed
    if cond:
        print("ok " + name)
    else:
        failed = 1
        print("FAIL %s: %s" % (name, why))


def check_model(d):
    try:
        ck = load(d + "/intent_classifier.pt")
    except (Refused, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        check("pt_weights_only_rules", False, str(e))
        return
    check("pt_weights_only_rules", isinstance(ck, dict) and ck.get("format") == "intent_classifier")
    with open(d + "/config.json") as f:
        cj = json.load(f)
    cfg = ck.get("config")
    bad = [k for k in set(cj) | set(cfg or {}) if not same_typed(cj.get(k), (cfg or {}).get(k))]
    check("pt_config_json_types", same_typed(cfg, cj),
          "keys differing in value or type: %s" % sorted(bad))
    check("pt_config_floats", isinstance(cfg.get("layer_norm_eps"), float) and
          cfg["layer_norm_eps"] == 1e-12 and isinstance(cfg.get("hidden_dropout_prob"), float),
          "layer_norm_eps %r" % (cfg.get("layer_norm_eps"),))
    check("pt_no_float_keys", "float_keys" not in ck)
    check("config_no_transformers_version", "transformers_version" not in cj and
          isinstance(cj.get("intent_version"), str))
    st = read_safetensors(d + "/model.safetensors")
    sd = ck.get("state_dict")
    same = isinstance(sd, collections.OrderedDict) and set(sd) == set(st) and all(
        isinstance(sd[k], Tensor) and sd[k].kind == "Float" and st[k][0] == "F32" and
        list(sd[k].shape) == st[k][1] and sd[k].raw == st[k][2] for k in sd)
    check("pt_state_dict_eq_safetensors", same, "names, shapes or bytes differ")
    # the Mahalanobis statistics travel in a dict of their own (the state dict
    # stays loadable by load_state_dict(strict=True)), equal to the
    # intent_oos.safetensors of the directory
    if os.path.exists(d + "/intent_oos.safetensors"):
        so = read_safetensors(d + "/intent_oos.safetensors")
        oo = ck.get("intent_oos")
        same = isinstance(oo, dict) and set(oo) == set(so) == {
            "intent_oos.class_means", "intent_oos.precision"} and all(
            isinstance(oo[k], Tensor) and oo[k].kind == "Float" and so[k][0] == "F32" and
            list(oo[k].shape) == so[k][1] and oo[k].raw == so[k][2] for k in oo)
        check("pt_intent_oos_eq_safetensors", same, "missing, or names, shapes or bytes differ")


def archive(pkl):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/data/0", struct.pack("<4f", 1, 2, 3, 4))
        z.writestr("archive/version", "3\n")
    return b.getvalue()


def crafted():
    """(name, pickle bytes, refused?) for the refusal self-check."""
    storage = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage"
               b"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ"
               b"K\x00K\x04\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR.")
    return [
        ("refuse_os_system", b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R.", True),
        ("refuse_builtins_eval", b"\x80\x02cbuiltins\neval\nX\x01\x00\x00\x001\x85R.", True),
        ("refuse_other_class", pickle.dumps(Opaque, protocol=2), True),
        ("refuse_protocol4", pickle.dumps(collections.OrderedDict(a=1.5), protocol=4), True),
        ("refuse_binbytes", pickle.dumps({"a": b"xy"}, protocol=3), True),
        ("refuse_non_storage_persid", b"\x80\x02X\x06\x00\x00\x00moduleX\x01\x00\x00\x00x"
         b"\x86Q.", True),
        ("accept_plain_protocol2", pickle.dumps({"eps": 1e-12, "n": [1, None, True, "s"],
                                                 "big": 1 << 40}, protocol=2), False),
        ("accept_tensor", storage, False),
    ]


def check_refusals(tmp):
    for name, pkl, refuse in crafted():
        path = "%s/%s.pt" % (tmp, name)
        with open(path, "wb") as f:
            f.write(archive(pkl))
        try:
            o = load(path)
            ok, why = not refuse, "accepted: %r" % (outline(o),)
        except (Refused, pickle.UnpicklingError) as e:
            ok, why = refuse, "refused: %s" % e
        check("weights_only_" + name, ok, why)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "load":
        print(json.dumps(outline(load(sys.argv[2])), sort_keys=True))
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "model":
        check_model(sys.argv[2])
        return failed
    if len(sys.argv) == 3 and sys.argv[1] == "refuse":
        check_refusals(sys.argv[2])
        return failed
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
