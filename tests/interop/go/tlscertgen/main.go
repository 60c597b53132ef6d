// tlscertgen: libp2p TLS certificates for the fuzz corpus (fuzz/corpus/tlscert), made by
// go-libp2p and by hand with go's encoding/asn1.
//
//	go run ./tlscertgen DIR         writes DIR/go_<identity key type> (go-libp2p's own, one per
//	                                identity key type) and DIR/fixedkey_<shape>
//	go run ./tlscertgen check FILE  how go's x509 parser and go-libp2p's chain check answer
//
// The fixedkey_* certificates have the P-256 certificate key whose private scalar is fixedD
// (fuzz/fuzz_tlscert.c re-signs mutated tbsCertificates with it) and a valid SignedKey of a fresh
// Ed25519 identity; each varies one field: shapes our verifier, OpenSSL or go treat differently
// (go refuses neg_serial and printable_at; both fast and OpenSSL paths accept them).
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
)

var fixedD = []byte{0x5a, 0x11, 0x7e, 0xc0, 0xff, 0xee, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a}

var (
	oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidECDSASHA256  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidLibp2p       = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 53594, 1, 1}
)

type algorithm struct{ Alg asn1.ObjectIdentifier }

type extension struct {
	ID       asn1.ObjectIdentifier
	Critical bool `asn1:"optional"`
	Value    []byte
}

type validity struct{ NotBefore, NotAfter asn1.RawValue }

type tbsCertificate struct {
	Version    int `asn1:"explicit,tag:0"`
	Serial     *big.Int
	Signature  algorithm
	Issuer     asn1.RawValue
	Validity   validity
	Subject    asn1.RawValue
	SPKI       asn1.RawValue
	Extensions []extension `asn1:"explicit,tag:3"`
}

type certificate struct {
	TBS       asn1.RawValue
	Algorithm algorithm
	Signature asn1.BitString
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// name is a Name of one serialNumber attribute of string type tag.
func name(tag int, s string) asn1.RawValue {
	atv := must(asn1.Marshal(struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue
	}{oidSerialNumber, asn1.RawValue{Tag: tag, Bytes: []byte(s)}}))
	rdn := must(asn1.Marshal(asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: atv}))
	return asn1.RawValue{FullBytes: must(asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: rdn}))}
}

func utc(s string) asn1.RawValue { return asn1.RawValue{Tag: asn1.TagUTCTime, Bytes: []byte(s)} }
func gen(s string) asn1.RawValue {
	return asn1.RawValue{Tag: asn1.TagGeneralizedTime, Bytes: []byte(s)}
}

// fixedKeyCert is a certificate with the fixed key, signed by it, and a fresh identity's SignedKey.
func fixedKeyCert(serial *big.Int, nm asn1.RawValue, nb, na asn1.RawValue) []byte {
	id, _ := must2(crypto.GenerateEd25519Key(rand.Reader))
	k := must(ecdsa.ParseRawPrivateKey(elliptic.P256(), fixedD))
	spki := must(x509.MarshalPKIXPublicKey(&k.PublicKey))
	sig := must(id.Sign(append([]byte("libp2p-tls-handshake:"), spki...)))
	pub := must(crypto.MarshalPublicKey(id.GetPublic()))
	signedKey := must(asn1.Marshal(struct{ PubKey, Signature []byte }{pub, sig}))
	alg := algorithm{oidECDSASHA256}
	tbs := must(asn1.Marshal(tbsCertificate{
		Version: 2, Serial: serial, Signature: alg, Issuer: nm, Subject: nm,
		Validity:   validity{nb, na},
		SPKI:       asn1.RawValue{FullBytes: spki},
		Extensions: []extension{{ID: oidLibp2p, Value: signedKey}},
	}))
	h := sha256.Sum256(tbs)
	s := must(ecdsa.SignASN1(rand.Reader, k, h[:]))
	return must(asn1.Marshal(certificate{asn1.RawValue{FullBytes: tbs}, alg, asn1.BitString{Bytes: s, BitLength: 8 * len(s)}}))
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

func check(files []string) {
	for _, f := range files {
		c, err := x509.ParseCertificate(must(os.ReadFile(f)))
		if err == nil {
			_, err = libp2ptls.PubKeyFromCertChain([]*x509.Certificate{c})
		}
		fmt.Printf("%s: %v\n", f, err)
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tlscertgen DIR | tlscertgen check FILE...")
		os.Exit(2)
	}
	if os.Args[1] == "check" {
		check(os.Args[2:])
		return
	}
	dir := os.Args[1]
	write := func(n string, der []byte) { must(0, os.WriteFile(filepath.Join(dir, n), der, 0o644)) }
	for n, t := range map[string]int{"ed25519": crypto.Ed25519, "ecdsa": crypto.ECDSA, "secp256k1": crypto.Secp256k1, "rsa": crypto.RSA} {
		sk, _ := must2(crypto.GenerateKeyPair(t, 2048))
		conf, _ := must(libp2ptls.NewIdentity(sk)).ConfigForPeer("")
		write("go_"+n, conf.Certificates[0].Certificate[0])
	}
	// Valid from an hour ago: the fuzz target's clock (2027-01-15) is inside for a certificate
	// made before then.
	now := time.Now().UTC()
	nb, na := utc(now.Add(-time.Hour).Format("060102150405Z")), utc("491231235959Z")
	one, ok := big.NewInt(1), name(asn1.TagPrintableString, "1")
	shapes := []struct {
		n      string
		serial *big.Int
		nm     asn1.RawValue
		nb, na asn1.RawValue
	}{
		{"ok", big.NewInt(12345), ok, nb, na},
		{"neg_serial", big.NewInt(-12345), ok, nb, na},
		{"zero_serial", big.NewInt(0), ok, nb, na},
		{"serial_20b", new(big.Int).Lsh(one, 158), ok, nb, na},
		{"serial_21b", new(big.Int).Lsh(one, 166), ok, nb, na},
		{"printable_at", one, name(asn1.TagPrintableString, "a@b!"), nb, na},
		{"empty_name", one, asn1.RawValue{FullBytes: []byte{0x30, 0}}, nb, na},
		{"gen_before_2050", one, ok, gen(now.Add(-time.Hour).Format("20060102150405Z")), gen("20451231235959Z")},
		{"gen_year0", one, ok, gen("00000101000000Z"), gen("99991231235959Z")},
		{"gen_2100_0229", one, ok, nb, gen("21000229000000Z")},
		{"leap_0229", one, ok, nb, gen("20480229000000Z")},
		{"utc_nb_50", one, ok, utc("500101000000Z"), na},
	}
	for _, s := range shapes {
		write("fixedkey_"+s.n, fixedKeyCert(s.serial, s.nm, s.nb, s.na))
	}
}
