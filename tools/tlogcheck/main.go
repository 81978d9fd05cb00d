// Command tlogcheck checks a published Four Links transparency log with Go's own implementation
// (golang.org/x/mod/sumdb/note and sumdb/tlog), sharing no code with the log: the checkpoint's
// signature, the signed root rebuilt from the C2SP tlog-tiles the log publishes, an inclusion
// proof of any leaf from those tiles, and optionally an event's proof from `fourlinks audit prove`
// and the consistency of an auditor's earlier checkpoint with the current one; with -witness, the
// witnesses' C2SP tlog-cosignature/v1 cosignatures on the checkpoint (checked by note.Open through
// a note.Verifier written here from the C2SP text) against a quorum.
//
//	tlogcheck -url http://127.0.0.1:8109 -key NAME+HASH+BASE64 [-proof proof.json] [-old old.checkpoint]
//	          [-witness NAME+HASH+BASE64 ... [-quorum N]]
//
// Exit 0: everything holds; 1: something does not (said on stderr); 2: it could not run.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const tileHeight = 8 // C2SP tlog-tiles: 256 hashes a tile

type checkpoint struct {
	origin string
	tree   tlog.Tree
}

func main() {
	url := flag.String("url", "", "the log's published URL prefix (serving /checkpoint and /tile/...)")
	key := flag.String("key", "", "the log's verifier key (name+hash+base64)")
	proofFile := flag.String("proof", "", "an inclusion proof from `fourlinks audit prove` to check")
	oldFile := flag.String("old", "", "an earlier checkpoint the current one must extend")
	var witnessKeys keyList
	flag.Var(&witnessKeys, "witness", "a witness's cosignature/v1 key (name+hash+base64); repeatable")
	quorum := flag.Int("quorum", -1, "how many -witness witnesses must have cosigned (default: a majority)")
	flag.Parse()
	if *url == "" || *key == "" {
		flag.Usage()
		os.Exit(2)
	}
	witnesses, err := cosigners(witnessKeys)
	if err != nil {
		fmt.Fprintln(os.Stderr, "the witness key:", err)
		os.Exit(2)
	}
	if *quorum < 0 {
		*quorum = len(witnesses)/2 + 1
	}
	if err := run(strings.TrimSuffix(*url, "/"), *key, *proofFile, *oldFile, witnesses, *quorum); err != nil {
		fmt.Fprintln(os.Stderr, "NOT VERIFIED:", err)
		os.Exit(1)
	}
}

func run(url, key, proofFile, oldFile string, witnesses []*cosignatureV1, quorum int) error {
	verifier, err := note.NewVerifier(key)
	if err != nil {
		return fmt.Errorf("the verifier key: %w", err)
	}
	msg, err := fetch(url + "/checkpoint")
	if err != nil {
		return err
	}
	current, err := open(msg, verifier)
	if err != nil {
		return err
	}
	fmt.Printf("checkpoint: %s, %d leaves, root %s, signed by %s\n",
		current.origin, current.tree.N, current.tree.Hash, verifier.Name())
	if current.origin != verifier.Name() {
		return fmt.Errorf("the origin %q is not the key's name %q", current.origin, verifier.Name())
	}
	if len(witnesses) > 0 {
		if err := checkCosignatures(msg, verifier, witnesses, quorum); err != nil {
			return err
		}
	}
	tiles := &tileFetcher{url: url}
	hashes := tlog.TileHashReader(current.tree, tiles)
	root, err := tlog.TreeHash(current.tree.N, hashes)
	if err != nil {
		return fmt.Errorf("rebuilding the root from the tiles: %w", err)
	}
	if root != current.tree.Hash {
		return fmt.Errorf("the tiles give the root %s, not the signed %s", root, current.tree.Hash)
	}
	fmt.Printf("tiles: %d fetched, the signed root rebuilt from them\n", tiles.fetched)
	if err := everyLeafProves(current.tree, hashes); err != nil {
		return err
	}
	if proofFile != "" {
		if err := checkProof(proofFile, verifier, current.tree, hashes); err != nil {
			return err
		}
	}
	if oldFile != "" {
		return checkExtends(oldFile, verifier, current.tree, hashes)
	}
	return nil
}

// open checks a signed note with the key and parses its text as a C2SP checkpoint.
func open(msg []byte, verifier note.Verifier) (checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return checkpoint{}, fmt.Errorf("the checkpoint's signature: %w", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		return checkpoint{}, errors.New("the checkpoint has no origin, size and root lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return checkpoint{}, fmt.Errorf("the checkpoint's size %q", lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return checkpoint{}, fmt.Errorf("the checkpoint's root: %w", err)
	}
	return checkpoint{lines[0], tlog.Tree{N: size, Hash: root}}, nil
}

// everyLeafProves proves the first, the middle and the last leaf in the tree from the tiles and
// checks each proof, as an auditor's own client would for any event.
func everyLeafProves(tree tlog.Tree, hashes tlog.HashReader) error {
	if tree.N == 0 {
		return nil
	}
	for _, index := range []int64{0, tree.N / 2, tree.N - 1} {
		leaf, err := hashes.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
		if err != nil {
			return fmt.Errorf("leaf %d: %w", index, err)
		}
		proof, err := tlog.ProveRecord(tree.N, index, hashes)
		if err != nil {
			return fmt.Errorf("proving leaf %d: %w", index, err)
		}
		if err := tlog.CheckRecord(proof, tree.N, tree.Hash, index, leaf[0]); err != nil {
			return fmt.Errorf("leaf %d's proof from the tiles: %w", index, err)
		}
	}
	fmt.Printf("inclusion: leaves 0, %d and %d proven from the tiles\n", tree.N/2, tree.N-1)
	return nil
}

// ourProof is what `fourlinks audit prove` prints.
type ourProof struct {
	Checkpoint string `json:"checkpoint"`
	TreeSize   int64  `json:"tree_size"`
	LeafIndex  int64  `json:"leaf_index"`
	Event      struct {
		Position      int64  `json:"position"`
		Subject       string `json:"subject"`
		EventType     string `json:"event_type"`
		PayloadBase64 string `json:"payload_base64"`
	} `json:"event"`
	InclusionPath []string `json:"inclusion_path"`
}

// leafData is the leaf encoding docs/audit.md specifies, written out here from the document.
func leafData(position int64, subject, eventType string, payload []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint64(position))
	binary.Write(&b, binary.BigEndian, uint16(len(subject)))
	b.WriteString(subject)
	binary.Write(&b, binary.BigEndian, uint16(len(eventType)))
	b.WriteString(eventType)
	b.Write(payload)
	return b.Bytes()
}

// proofOf reads a proof file: a C2SP tlog-proof whose extra line is the leaf's data, or the JSON
// of earlier releases. It returns the signed checkpoint, the leaf index, its data and the path.
func proofOf(raw []byte) (string, int64, []byte, tlog.RecordProof, error) {
	text := string(raw)
	if !strings.HasPrefix(text, "c2sp.org/tlog-proof@v1\n") {
		return jsonProof(raw)
	}
	head, signed, found := strings.Cut(text, "\n\n")
	lines := strings.Split(head, "\n")[1:]
	if !found || len(lines) < 2 || !strings.HasPrefix(lines[0], "extra ") || !strings.HasPrefix(lines[1], "index ") {
		return "", 0, nil, nil, errors.New("the tlog-proof has no extra (the leaf's data) and index lines")
	}
	data, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[0], "extra "))
	if err != nil {
		return "", 0, nil, nil, fmt.Errorf("the proof's leaf data: %w", err)
	}
	index, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "index "), 10, 64)
	if err != nil {
		return "", 0, nil, nil, fmt.Errorf("the proof's index: %w", err)
	}
	var path tlog.RecordProof
	for _, line := range lines[2:] {
		hash, err := tlog.ParseHash(line)
		if err != nil {
			return "", 0, nil, nil, fmt.Errorf("the proof's path: %w", err)
		}
		path = append(path, hash)
	}
	return signed, index, data, path, nil
}

func jsonProof(raw []byte) (string, int64, []byte, tlog.RecordProof, error) {
	var p ourProof
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", 0, nil, nil, fmt.Errorf("the proof: %w", err)
	}
	payload, err := base64.StdEncoding.DecodeString(p.Event.PayloadBase64)
	if err != nil {
		return "", 0, nil, nil, fmt.Errorf("the proof's event: %w", err)
	}
	var path tlog.RecordProof
	for _, h := range p.InclusionPath {
		hash, err := tlog.ParseHash(h)
		if err != nil {
			return "", 0, nil, nil, fmt.Errorf("the proof's path: %w", err)
		}
		path = append(path, hash)
	}
	data := leafData(p.Event.Position, p.Event.Subject, p.Event.EventType, payload)
	return p.Checkpoint, p.LeafIndex, data, path, nil
}

// checkProof checks an event's proof: its checkpoint's signature, its path to that checkpoint's
// root, the event's position against its index, and that the event's leaf is the one the
// published tiles hold at that index.
func checkProof(file string, verifier note.Verifier, current tlog.Tree, hashes tlog.HashReader) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	msg, index, data, path, err := proofOf(raw)
	if err != nil {
		return err
	}
	signed, err := open([]byte(msg), verifier)
	if err != nil {
		return fmt.Errorf("the proof's %w", err)
	}
	if len(data) < 12 || int64(binary.BigEndian.Uint64(data)) != index+1 {
		return fmt.Errorf("the proof's leaf is not the event at position %d", index+1)
	}
	leaf := tlog.RecordHash(data)
	if err := tlog.CheckRecord(path, signed.tree.N, signed.tree.Hash, index, leaf); err != nil {
		return fmt.Errorf("the event's proof: %w", err)
	}
	if index < current.N {
		published, err := hashes.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
		if err != nil || published[0] != leaf {
			return fmt.Errorf("the published tiles hold another leaf at %d", index)
		}
	}
	fmt.Printf("proof: position %d is in the signed tree of %d leaves\n", index+1, signed.tree.N)
	return nil
}

// checkExtends checks that the current tree extends an earlier signed one, with a consistency
// proof built from the published tiles.
func checkExtends(file string, verifier note.Verifier, current tlog.Tree, hashes tlog.HashReader) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	old, err := open(raw, verifier)
	if err != nil {
		return fmt.Errorf("the earlier %w", err)
	}
	if old.tree.N > current.N {
		return fmt.Errorf("the log went back: %d leaves now, %d before", current.N, old.tree.N)
	}
	proof, err := tlog.ProveTree(current.N, old.tree.N, hashes)
	if err != nil {
		return fmt.Errorf("proving consistency: %w", err)
	}
	if err := tlog.CheckTree(proof, current.N, current.Hash, old.tree.N, old.tree.Hash); err != nil {
		return fmt.Errorf("the log of %d does not extend the earlier one of %d: %w", current.N, old.tree.N, err)
	}
	fmt.Printf("consistency: the tree of %d extends the earlier one of %d\n", current.N, old.tree.N)
	return nil
}

// tileFetcher reads tiles over HTTP at their C2SP paths (Go's tile paths without the height).
type tileFetcher struct {
	url     string
	fetched int
}

func (f *tileFetcher) Height() int { return tileHeight }

func (f *tileFetcher) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	data := make([][]byte, len(tiles))
	for i, t := range tiles {
		path := strings.Replace(t.Path(), fmt.Sprintf("tile/%d/", tileHeight), "tile/", 1)
		body, err := fetch(f.url + "/" + path)
		if err != nil {
			return nil, err
		}
		if len(body) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("%s holds %d bytes, not %d", path, len(body), t.W*tlog.HashSize)
		}
		data[i] = body
		f.fetched++
	}
	return data, nil
}

func (f *tileFetcher) SaveTiles([]tlog.Tile, [][]byte) {}

var client = &http.Client{Timeout: 30 * time.Second}

func fetch(url string) ([]byte, error) {
	reply, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer reply.Body.Close()
	body, err := io.ReadAll(reply.Body)
	if err != nil {
		return nil, err
	}
	if reply.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, reply.Status)
	}
	return body, nil
}

// keyList collects a repeated flag.
type keyList []string

func (k *keyList) String() string     { return strings.Join(*k, ",") }
func (k *keyList) Set(v string) error { *k = append(*k, v); return nil }

// cosignatureV1 is a note.Verifier of a witness's cosignature as C2SP tlog-cosignature defines the
// Ed25519 type: the key id is SHA-256(name || "\n" || 0x04 || public key)[:4], the signature is an
// 8-byte big-endian POSIX time then the Ed25519 signature of "cosignature/v1\ntime <t>\n" and the
// checkpoint's text. It remembers the time of the cosignature it verified.
type cosignatureV1 struct {
	name string
	hash uint32
	key  ed25519.PublicKey
	at   int64
}

func cosigners(vkeys []string) ([]*cosignatureV1, error) {
	var found []*cosignatureV1
	for _, vkey := range vkeys {
		name, rest, _ := strings.Cut(vkey, "+")
		hash, b64, _ := strings.Cut(rest, "+")
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 0x04 {
			return nil, fmt.Errorf("%q is no cosignature/v1 key (type 0x04, Ed25519)", vkey)
		}
		id := sha256.Sum256(append([]byte(name+"\n\x04"), raw[1:]...))
		if fmt.Sprintf("%x", id[:4]) != hash {
			return nil, fmt.Errorf("%q: the hash does not match the name and key", vkey)
		}
		found = append(found, &cosignatureV1{name, binary.BigEndian.Uint32(id[:4]), raw[1:], 0})
	}
	return found, nil
}

func (c *cosignatureV1) Name() string    { return c.name }
func (c *cosignatureV1) KeyHash() uint32 { return c.hash }

func (c *cosignatureV1) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	at := binary.BigEndian.Uint64(sig)
	signed := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", at)), msg...)
	if !ed25519.Verify(c.key, signed, sig[8:]) {
		return false
	}
	c.at = int64(at)
	return true
}

// checkCosignatures opens the checkpoint with the log's key and the witnesses' keys together (a
// cosignature of a known witness that does not verify fails note.Open) and counts the witnesses.
func checkCosignatures(msg []byte, log note.Verifier, witnesses []*cosignatureV1, quorum int) error {
	known := []note.Verifier{log}
	for _, w := range witnesses {
		known = append(known, w)
	}
	n, err := note.Open(msg, note.VerifierList(known...))
	if err != nil {
		return fmt.Errorf("the checkpoint's signatures: %w", err)
	}
	var cosigned []string
	for _, w := range witnesses {
		for _, sig := range n.Sigs {
			if sig.Name == w.name && sig.Hash == w.hash {
				at := time.Unix(w.at, 0).UTC().Format(time.RFC3339)
				cosigned = append(cosigned, fmt.Sprintf("%s at %s", w.name, at))
			}
		}
	}
	fmt.Printf("cosignatures: %d of %d witnesses (%d needed): %s\n",
		len(cosigned), len(witnesses), quorum, strings.Join(cosigned, ", "))
	if len(cosigned) < quorum {
		return fmt.Errorf("%d of the %d witnesses cosigned the checkpoint, %d needed", len(cosigned), len(witnesses), quorum)
	}
	return nil
}
