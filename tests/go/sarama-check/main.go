// Command sarama-check drives a Kafka-compatible broker with Sarama (Debian's 1.22.1, built in
// GOPATH mode from /usr/share/gocode) at a chosen config.Version, for the compatibility suite
// (tests/compat/test_go_clients.py).
//
// The Version decides which request versions Sarama sends: below 0.10 Produce v0/v1 with message
// format 0 and Fetch v0/v1; at 0.10.0 Produce v2 and Fetch v2 with format 1; at 0.10.1 Fetch v3,
// ListOffsets v1, CreateTopics and DeleteTopics v0; at 0.10.2 consumer groups (JoinGroup v1); at
// 0.11 Produce v3 and Fetch v4 with record batches (format 2), DescribeConfigs; at 1.0 Metadata v5
// and CreateTopics v2. Offsets are always committed with OffsetCommit v1 and read with
// OffsetFetch v1.
//
// Each mode does one job, checks what it can by itself and prints one JSON document on stdout;
// the test compares documents across modes, versions and clients. Any failure prints
// "sarama-check FAIL: ..." on stderr and exits non-zero; a watchdog bounds the whole run
// (-timeout). Sarama's own log goes to stderr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Shopify/sarama"
)

var (
	bootstrap   = flag.String("bootstrap", "", "host:port of a broker")
	versionFlag = flag.String("version", "2.2.0", "Sarama config.Version (\"0.8.2.0\", \"0.10.2.0\", \"1.0.0\", \"2.2.0\", ...)")
	mode        = flag.String("mode", "", "produce | consume | group | commit | committed | describe-group | admin | topics | describe-config | versions")
	topic       = flag.String("topic", "", "topic")
	group       = flag.String("group", "", "consumer group id")
	n           = flag.Int("n", 100, "produce: records to send; consume: records expected (-1: any); group: records to consume and mark")
	prefix      = flag.String("prefix", "v", "produce: values are <prefix>-<index, 5 digits>")
	keys        = flag.Int("keys", 13, "produce: keys are key-<index mod keys, 2 digits>")
	tsBase      = flag.Int64("ts-base", 1600000000000, "produce: record i gets timestamp ts-base+i ms (Version >= 0.10); 0 for none")
	compression = flag.String("compression", "none", "produce: none | gzip | snappy | lz4 | zstd")
	expectError = flag.Int("expect-error", 0, "produce: the Kafka error code every record must fail with (0: must succeed)")
	fromList    = flag.String("from", "oldest", "consume: comma-separated start points, each \"oldest\" or an offset (one read per point)")
	offsetsFlag = flag.String("offsets", "", "commit: partition=offset,... to commit")
	metadata    = flag.String("metadata", "", "commit: the metadata string committed with each offset")
	retention   = flag.Duration("retention", 0, "commit: a retention time, which makes Sarama send OffsetCommit v2 instead of v1")
	partitions  = flag.Int("partitions", 3, "admin: partitions of the topic created")
	configFlag  = flag.String("config", "retention.ms=123456", "admin: name=value set on the topic created")
	timeout     = flag.Duration("timeout", 60*time.Second, "bound on the whole run")
)

var (
	version sarama.KafkaVersion
	step    atomic.Value // what the run is doing now, for the watchdog's message
)

func main() {
	flag.Parse()
	sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Ltime|log.Lmicroseconds)
	step.Store("starting")
	watchdog := time.AfterFunc(*timeout, func() {
		fmt.Fprintf(os.Stderr, "sarama-check FAIL: mode %s at Version %s timed out after %s while %s\n",
			*mode, *versionFlag, *timeout, step.Load())
		os.Exit(3)
	})
	defer watchdog.Stop()

	var err error
	if version, err = sarama.ParseKafkaVersion(*versionFlag); err != nil {
		fail("bad -version: %v", err)
	}
	known := false
	for _, v := range sarama.SupportedVersions {
		known = known || v == version
	}
	if !known {
		fail("-version %s is not one of Sarama's SupportedVersions", *versionFlag)
	}
	if *mode != "versions" && *bootstrap == "" {
		fail("-bootstrap is required")
	}

	switch *mode {
	case "produce":
		produce()
	case "consume":
		consume()
	case "group":
		consumeGroup()
	case "commit":
		commit()
	case "committed":
		emit(map[string]interface{}{"offsets": committed()})
	case "describe-group":
		describeGroup()
	case "admin":
		administer()
	case "topics":
		emit(map[string]interface{}{"topics": listTopics(newClient(newConfig()))})
	case "describe-config":
		describeConfig()
	case "versions":
		var all []string
		for _, v := range sarama.SupportedVersions {
			all = append(all, v.String())
		}
		emit(map[string]interface{}{"max": sarama.MaxVersion.String(), "supported": all})
	default:
		fail("unknown -mode %q", *mode)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "sarama-check FAIL: mode %s at Version %s, topic %q: %s\n",
		*mode, *versionFlag, *topic, fmt.Sprintf(format, args...))
	os.Exit(1)
}

func check(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

func setStep(format string, args ...interface{}) {
	step.Store(fmt.Sprintf(format, args...))
}

func emit(v interface{}) {
	if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
		fail("writing JSON: %v", err)
	}
}

func newConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = version
	c.ClientID = "sarama-check"
	c.Net.DialTimeout = 10 * time.Second
	c.Net.ReadTimeout = 20 * time.Second
	c.Net.WriteTimeout = 20 * time.Second
	c.Metadata.Retry.Max = 5
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Retry.Max = 3
	// Several records per request and per (compressed) message set.
	c.Producer.Flush.Messages = 25
	c.Producer.Flush.Frequency = 20 * time.Millisecond
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 20 * time.Millisecond // a short long poll: requests on its connection wait behind it
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.CommitInterval = 50 * time.Millisecond
	c.Admin.Timeout = 10 * time.Second
	return c
}

func newClient(c *sarama.Config) sarama.Client {
	setStep("connecting to %s", *bootstrap)
	client, err := sarama.NewClient([]string{*bootstrap}, c)
	check(err, "connecting (Metadata)")
	return client
}

// record is how every mode reports a record: timestamps in milliseconds, null when the record
// has none (message format 0, or stored without one).
type record struct {
	Partition      int32       `json:"partition"`
	Offset         int64       `json:"offset"`
	Key            *string     `json:"key"`
	Value          *string     `json:"value"`
	Timestamp      *int64      `json:"timestamp"`
	BlockTimestamp *int64      `json:"block_timestamp"`
	Headers        [][2]string `json:"headers"`
}

func millis(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	ms := t.UnixNano() / int64(time.Millisecond)
	return &ms
}

func str(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func sortRecords(rs []record) {
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].Partition != rs[j].Partition {
			return rs[i].Partition < rs[j].Partition
		}
		return rs[i].Offset < rs[j].Offset
	})
}

func codec(name string) sarama.CompressionCodec {
	switch name {
	case "none":
		return sarama.CompressionNone
	case "gzip":
		return sarama.CompressionGZIP
	case "snappy":
		return sarama.CompressionSnappy
	case "lz4":
		return sarama.CompressionLZ4
	case "zstd":
		return sarama.CompressionZSTD
	}
	fail("unknown -compression %q", name)
	return sarama.CompressionNone
}

// produce sends -n keyed records with a SyncProducer in one SendMessages call, so that Sarama
// batches them (several records per message set, compressed as one wrapper below 0.11).
func produce() {
	c := newConfig()
	c.Producer.Compression = codec(*compression)
	client := newClient(c)
	defer client.Close()
	producer, err := sarama.NewSyncProducerFromClient(client)
	check(err, "creating the SyncProducer")
	defer producer.Close()

	msgs := make([]*sarama.ProducerMessage, *n)
	for i := range msgs {
		m := &sarama.ProducerMessage{
			Topic: *topic,
			Key:   sarama.StringEncoder(fmt.Sprintf("key-%02d", i%*keys)),
			Value: sarama.StringEncoder(fmt.Sprintf("%s-%05d", *prefix, i)),
		}
		if *tsBase > 0 {
			m.Timestamp = time.Unix(0, (*tsBase+int64(i))*int64(time.Millisecond))
		}
		if version.IsAtLeast(sarama.V0_11_0_0) {
			m.Headers = []sarama.RecordHeader{{Key: []byte("i"), Value: []byte(strconv.Itoa(i))}}
		}
		msgs[i] = m
	}
	setStep("sending %d records (%s)", *n, *compression)
	err = producer.SendMessages(msgs)

	if *expectError != 0 {
		if err == nil {
			fail("every record was acknowledged; expected each to fail with Kafka error %d (%v)",
				*expectError, sarama.KError(*expectError))
		}
		var perrs sarama.ProducerErrors
		if !errors.As(err, &perrs) {
			fail("expected ProducerErrors with Kafka error %d, got %T: %v", *expectError, err, err)
		}
		if len(perrs) != len(msgs) {
			fail("%d of %d records failed, expected all to fail with Kafka error %d", len(perrs), len(msgs), *expectError)
		}
		for _, pe := range perrs {
			if pe.Err != sarama.KError(*expectError) {
				fail("a record failed with %v, expected Kafka error %d (%v)", pe.Err, *expectError, sarama.KError(*expectError))
			}
		}
		emit(map[string]interface{}{"failed": len(perrs), "error": perrs[0].Err.Error()})
		return
	}
	if err != nil {
		var perrs sarama.ProducerErrors
		if errors.As(err, &perrs) && len(perrs) > 0 {
			fail("%d of %d records failed; the first: %v", len(perrs), len(msgs), perrs[0].Err)
		}
		fail("SendMessages: %v", err)
	}

	out := make([]record, 0, len(msgs))
	seen := map[int32]map[int64]bool{}
	for i, m := range msgs {
		if m.Offset < 0 {
			fail("record %d acknowledged without an offset (%d)", i, m.Offset)
		}
		if seen[m.Partition] == nil {
			seen[m.Partition] = map[int64]bool{}
		}
		if seen[m.Partition][m.Offset] {
			fail("two records acknowledged at partition %d offset %d", m.Partition, m.Offset)
		}
		seen[m.Partition][m.Offset] = true
		k, _ := m.Key.Encode()
		v, _ := m.Value.Encode()
		r := record{Partition: m.Partition, Offset: m.Offset, Key: str(k), Value: str(v), Headers: [][2]string{}}
		if version.IsAtLeast(sarama.V0_10_0_0) && *tsBase > 0 {
			ts := *tsBase + int64(i)
			r.Timestamp = &ts
		}
		for _, h := range m.Headers {
			r.Headers = append(r.Headers, [2]string{string(h.Key), string(h.Value)})
		}
		out = append(out, r)
	}
	emit(map[string]interface{}{"records": out})
}

// consume reads every partition of -topic with partition consumers, once per start point in
// -from, up to the end offset that ListOffsets reported when the read began; offsets must follow
// each other without gaps.
func consume() {
	c := newConfig()
	client := newClient(c)
	defer client.Close()
	parts, err := client.Partitions(*topic)
	check(err, "listing partitions")
	consumer, err := sarama.NewConsumerFromClient(client)
	check(err, "creating the Consumer")
	defer consumer.Close()

	type read struct {
		From    string          `json:"from"`
		Records []record        `json:"records"`
		Oldest  map[int32]int64 `json:"oldest"`
		Newest  map[int32]int64 `json:"newest"`
	}
	var reads []read
	for _, from := range strings.Split(*fromList, ",") {
		rd := read{From: from, Records: []record{}, Oldest: map[int32]int64{}, Newest: map[int32]int64{}}
		// Every partition is subscribed before any is read, so that one fetcher serves them all.
		type partitionRead struct {
			p             int32
			start, newest int64
			pc            sarama.PartitionConsumer
			records       []record
		}
		var prs []*partitionRead
		for _, p := range parts {
			setStep("listing offsets of partition %d", p)
			oldest, err := client.GetOffset(*topic, p, sarama.OffsetOldest)
			check(err, fmt.Sprintf("ListOffsets (earliest) of partition %d", p))
			newest, err := client.GetOffset(*topic, p, sarama.OffsetNewest)
			check(err, fmt.Sprintf("ListOffsets (latest) of partition %d", p))
			rd.Oldest[p], rd.Newest[p] = oldest, newest
			start, startArg := oldest, sarama.OffsetOldest
			if from != "oldest" {
				o, err := strconv.ParseInt(from, 10, 64)
				check(err, "parsing -from")
				if o > newest {
					o = newest
				}
				start, startArg = o, o
			}
			if start >= newest {
				continue
			}
			setStep("starting a partition consumer on partition %d at %s", p, from)
			pc, err := consumer.ConsumePartition(*topic, p, startArg)
			check(err, fmt.Sprintf("ConsumePartition(%d, %s)", p, from))
			prs = append(prs, &partitionRead{p: p, start: start, newest: newest, pc: pc})
		}
		var wg sync.WaitGroup
		for _, pr := range prs {
			wg.Add(1)
			go func(pr *partitionRead) {
				defer wg.Done()
				for next := pr.start; next < pr.newest; next++ {
					select {
					case m := <-pr.pc.Messages():
						if m.Offset != next {
							fail("partition %d: expected offset %d next, got %d", pr.p, next, m.Offset)
						}
						r := record{Partition: pr.p, Offset: m.Offset, Key: str(m.Key), Value: str(m.Value),
							Timestamp: millis(m.Timestamp), BlockTimestamp: millis(m.BlockTimestamp), Headers: [][2]string{}}
						for _, h := range m.Headers {
							r.Headers = append(r.Headers, [2]string{string(h.Key), string(h.Value)})
						}
						pr.records = append(pr.records, r)
					case e := <-pr.pc.Errors():
						fail("partition %d at offset %d: %v", pr.p, next, e.Err)
					case <-time.After(20 * time.Second):
						fail("partition %d: no record at offset %d within 20s (end offset %d)", pr.p, next, pr.newest)
					}
				}
				if hw := pr.pc.HighWaterMarkOffset(); hw != pr.newest {
					fail("partition %d: high watermark %d in Fetch, %d from ListOffsets", pr.p, hw, pr.newest)
				}
			}(pr)
		}
		setStep("reading %d partitions from %s", len(prs), from)
		wg.Wait()
		// Closed together: each close waits for its fetcher's long poll to end.
		setStep("closing the partition consumers")
		for _, pr := range prs {
			pr.pc.AsyncClose()
		}
		for _, pr := range prs {
			for range pr.pc.Messages() {
			}
			for e := range pr.pc.Errors() {
				fail("partition %d, after its last record: %v", e.Partition, e.Err)
			}
			rd.Records = append(rd.Records, pr.records...)
		}
		if *n >= 0 && from == "oldest" && len(rd.Records) != *n {
			fail("read %d records from the oldest offsets, expected %d", len(rd.Records), *n)
		}
		reads = append(reads, rd)
	}
	emit(map[string]interface{}{"reads": reads})
}

// groupHandler records and marks the first -n records its claims deliver, then ends the session.
type groupHandler struct {
	mu      sync.Mutex
	limit   int
	records []record
	initial map[int32]int64
	hwm     map[int32]int64
	claims  map[string][]int32
	member  string
	gen     int32
	done    bool
	cancel  func()
}

func (h *groupHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.claims, h.member, h.gen = s.Claims(), s.MemberID(), s.GenerationID()
	return nil
}

func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	h.mu.Lock()
	h.initial[claim.Partition()] = claim.InitialOffset()
	h.mu.Unlock()
	for m := range claim.Messages() {
		h.mu.Lock()
		if !h.done {
			h.records = append(h.records, record{Partition: m.Partition, Offset: m.Offset, Key: str(m.Key),
				Value: str(m.Value), Timestamp: millis(m.Timestamp), Headers: [][2]string{}})
			h.hwm[m.Partition] = claim.HighWaterMarkOffset()
			s.MarkMessage(m, "")
			if len(h.records) >= h.limit {
				h.done = true
				h.cancel()
			}
		}
		h.mu.Unlock()
	}
	return nil
}

// consumeGroup joins -group, consumes and marks -n records, and leaves; the offsets are
// committed (OffsetCommit v1 with the generation) on the way out.
func consumeGroup() {
	if *n <= 0 {
		fail("-n must be positive in group mode")
	}
	c := newConfig()
	c.Consumer.Group.Session.Timeout = 10 * time.Second
	c.Consumer.Group.Heartbeat.Interval = time.Second
	client := newClient(c)
	defer client.Close()
	cg, err := sarama.NewConsumerGroupFromClient(*group, client)
	check(err, "creating the ConsumerGroup")

	var errMu sync.Mutex
	var groupErrs []string
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for e := range cg.Errors() {
			errMu.Lock()
			groupErrs = append(groupErrs, e.Error())
			errMu.Unlock()
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	h := &groupHandler{limit: *n, initial: map[int32]int64{}, hwm: map[int32]int64{}, cancel: cancel}
	sessions := 0
	for {
		h.mu.Lock()
		done := h.done
		h.mu.Unlock()
		if done {
			break
		}
		if sessions == 20 {
			fail("no %d records after 20 group sessions (got %d)", *n, len(h.records))
		}
		sessions++
		setStep("consuming in group %s (session %d, %d of %d records)", *group, sessions, len(h.records), *n)
		if err := cg.Consume(ctx, []string{*topic}, h); err != nil {
			fail("ConsumerGroup.Consume: %v", err)
		}
	}
	setStep("closing the consumer group (LeaveGroup)")
	check(cg.Close(), "closing the ConsumerGroup")
	<-errsDone
	cancel()
	if len(groupErrs) > 0 {
		fail("consumer group errors: %s", strings.Join(groupErrs, "; "))
	}
	sortRecords(h.records)
	emit(map[string]interface{}{"records": h.records, "initial": h.initial, "high_watermarks": h.hwm,
		"claims": h.claims, "member": h.member, "generation": h.gen, "sessions": sessions})
}

type committedOffset struct {
	Offset   *int64 `json:"offset"`
	Metadata string `json:"metadata"`
}

// committed reads -group's committed offsets for every partition of -topic through an
// OffsetManager (FindCoordinator v0, OffsetFetch v1); null where none is committed.
func committed() map[int32]committedOffset {
	c := newConfig()
	client := newClient(c)
	defer client.Close()
	parts, err := client.Partitions(*topic)
	check(err, "listing partitions")
	om, err := sarama.NewOffsetManagerFromClient(*group, client)
	check(err, "creating the OffsetManager")
	out := map[int32]committedOffset{}
	var poms []sarama.PartitionOffsetManager
	for _, p := range parts {
		setStep("fetching the offset of group %s, partition %d", *group, p)
		pom, err := om.ManagePartition(*topic, p)
		check(err, fmt.Sprintf("OffsetFetch for partition %d", p))
		off, meta := pom.NextOffset()
		co := committedOffset{Metadata: meta}
		if off >= 0 {
			co.Offset = &off
		}
		out[p] = co
		poms = append(poms, pom)
	}
	closePoms(poms)
	check(om.Close(), "closing the OffsetManager")
	return out
}

// closePoms closes partition offset managers together; each waits until its offset is committed
// (or, with nothing to commit, until the next tick of the offset manager).
func closePoms(poms []sarama.PartitionOffsetManager) {
	setStep("closing the partition offset managers (waits for their commits)")
	for _, pom := range poms {
		pom.AsyncClose()
	}
	errs := make(chan error, len(poms))
	closed := make(chan struct{}, len(poms))
	for _, pom := range poms {
		go func(pom sarama.PartitionOffsetManager) {
			for e := range pom.Errors() {
				errs <- e
			}
			closed <- struct{}{}
		}(pom)
	}
	deadline := time.After(20 * time.Second)
	for left := len(poms); left > 0; {
		select {
		case e := <-errs:
			fail("committing (OffsetCommit v%d): %v", commitVersion(), e)
		case <-closed:
			left--
		case <-deadline:
			fail("offsets not committed within 20s (OffsetCommit v%d kept failing?)", commitVersion())
		}
	}
	select {
	case e := <-errs:
		fail("committing (OffsetCommit v%d): %v", commitVersion(), e)
	default:
	}
}

func commitVersion() int {
	if *retention > 0 {
		return 2
	}
	return 1
}

// commit commits -offsets for -group with an OffsetManager (OffsetCommit v1 with generation -1,
// as a client outside any group; v2 with -retention), then reads them back with a fresh client.
func commit() {
	want := map[int32]int64{}
	for _, kv := range strings.Split(*offsetsFlag, ",") {
		parts := strings.SplitN(kv, "=", 2)
		if len(parts) != 2 {
			fail("bad -offsets entry %q", kv)
		}
		p, err1 := strconv.Atoi(parts[0])
		o, err2 := strconv.ParseInt(parts[1], 10, 64)
		if err1 != nil || err2 != nil {
			fail("bad -offsets entry %q", kv)
		}
		want[int32(p)] = o
	}
	c := newConfig()
	c.Consumer.Offsets.Retention = *retention
	client := newClient(c)
	om, err := sarama.NewOffsetManagerFromClient(*group, client)
	check(err, "creating the OffsetManager")
	var poms []sarama.PartitionOffsetManager
	for p, o := range want {
		setStep("marking partition %d at %d", p, o)
		pom, err := om.ManagePartition(*topic, p)
		check(err, fmt.Sprintf("OffsetFetch for partition %d", p))
		if before, _ := pom.NextOffset(); before >= 0 {
			fail("group %s already has offset %d for partition %d", *group, before, p)
		}
		pom.MarkOffset(o, *metadata)
		poms = append(poms, pom)
	}
	closePoms(poms)
	check(om.Close(), "closing the OffsetManager")
	check(client.Close(), "closing the client")

	got := committed()
	for p, o := range want {
		g := got[p]
		if g.Offset == nil || *g.Offset != o || g.Metadata != *metadata {
			off := "none"
			if g.Offset != nil {
				off = strconv.FormatInt(*g.Offset, 10)
			}
			fail("partition %d: committed %d with metadata %q, read back %s with metadata %q", p, o, *metadata, off, g.Metadata)
		}
	}
	emit(map[string]interface{}{"offsets": got})
}

func newAdmin() sarama.ClusterAdmin {
	setStep("connecting the ClusterAdmin")
	admin, err := sarama.NewClusterAdmin([]string{*bootstrap}, newConfig())
	check(err, "creating the ClusterAdmin")
	return admin
}

// describeGroup lists groups (ListGroups v0) and describes -group (DescribeGroups v0).
func describeGroup() {
	admin := newAdmin()
	defer admin.Close()
	setStep("ListGroups")
	groups, err := admin.ListConsumerGroups()
	check(err, "ListConsumerGroups")
	setStep("DescribeGroups")
	described, err := admin.DescribeConsumerGroups([]string{*group})
	check(err, "DescribeConsumerGroups")
	if len(described) != 1 {
		fail("DescribeGroups answered %d groups for one", len(described))
	}
	d := described[0]
	var listed *string
	if t, ok := groups[*group]; ok {
		listed = &t
	}
	emit(map[string]interface{}{"listed": listed, "error": int(d.Err), "group": d.GroupId, "state": d.State,
		"protocol_type": d.ProtocolType, "protocol": d.Protocol, "members": len(d.Members)})
}

// listTopics is every topic with its partition count, from a Metadata request for all topics
// (one that never creates a topic).
func listTopics(client sarama.Client) map[string]int {
	setStep("Metadata for all topics")
	check(client.RefreshMetadata(), "Metadata for all topics")
	names, err := client.Topics()
	check(err, "listing topics")
	out := map[string]int{}
	for _, t := range names {
		ps, err := client.Partitions(t)
		check(err, "partitions of "+t)
		out[t] = len(ps)
	}
	return out
}

// waitTopic polls the all-topics metadata until -topic has `want` partitions (0: is gone).
func waitTopic(client sarama.Client, want int) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, ok := listTopics(client)[*topic]
		if (want == 0 && !ok) || (want > 0 && got == want) {
			return
		}
		if time.Now().After(deadline) {
			fail("after 30s the metadata lists %q with %d partitions (present: %v), expected %d", *topic, got, ok, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// administer creates -topic with a config, checks it (DescribeTopics, DescribeConfigs,
// AlterConfigs and ListTopics from 0.11, CreatePartitions from 1.0) and deletes it.
func administer() {
	kv := strings.SplitN(*configFlag, "=", 2)
	if len(kv) != 2 {
		fail("bad -config %q", *configFlag)
	}
	admin := newAdmin()
	defer admin.Close()
	client := newClient(newConfig())
	defer client.Close()
	report := map[string]interface{}{}

	setStep("CreateTopics")
	detail := &sarama.TopicDetail{NumPartitions: int32(*partitions), ReplicationFactor: 1,
		ConfigEntries: map[string]*string{kv[0]: &kv[1]}}
	check(admin.CreateTopic(*topic, detail, false), "CreateTopics")
	setStep("CreateTopics again")
	err := admin.CreateTopic(*topic, detail, false)
	var te *sarama.TopicError
	if !errors.As(err, &te) || te.Err != sarama.ErrTopicAlreadyExists {
		fail("creating %q again: expected TOPIC_ALREADY_EXISTS (36), got %v", *topic, err)
	}
	waitTopic(client, *partitions)

	setStep("DescribeTopics")
	described, err := admin.DescribeTopics([]string{*topic})
	check(err, "DescribeTopics")
	if len(described) != 1 || described[0].Name != *topic || described[0].Err != sarama.ErrNoError ||
		len(described[0].Partitions) != *partitions {
		fail("DescribeTopics: %s", describeMetadata(described))
	}
	for _, p := range described[0].Partitions {
		if p.Err != sarama.ErrNoError || p.Leader < 0 || len(p.Replicas) != 1 || len(p.Isr) != 1 {
			fail("DescribeTopics: partition %d: error %v, leader %d, replicas %v, isr %v", p.ID, p.Err, p.Leader, p.Replicas, p.Isr)
		}
	}
	report["partitions"] = len(described[0].Partitions)

	if version.IsAtLeast(sarama.V0_11_0_0) {
		entries := topicConfig(admin)
		e, ok := entries[kv[0]]
		if !ok || e.Value != kv[1] || e.Default {
			fail("DescribeConfigs: %s is %+v (present: %v), expected %q and not default", kv[0], e, ok, kv[1])
		}
		seg, ok := entries["segment.bytes"]
		if !ok || !seg.Default {
			fail("DescribeConfigs: segment.bytes is %+v (present: %v), expected a default value", seg, ok)
		}
		report["config"] = map[string]string{kv[0]: e.Value}

		setStep("AlterConfigs")
		altered := "654321"
		check(admin.AlterConfig(sarama.TopicResource, *topic, map[string]*string{"retention.ms": &altered}, false), "AlterConfigs")
		if e := topicConfig(admin)["retention.ms"]; e.Value != altered || e.Default {
			fail("after AlterConfigs retention.ms is %+v, expected %s", e, altered)
		}

		setStep("ListTopics")
		listed, err := admin.ListTopics()
		check(err, "ListTopics")
		d, ok := listed[*topic]
		if !ok || d.NumPartitions != int32(*partitions) || d.ReplicationFactor != 1 ||
			d.ConfigEntries["retention.ms"] == nil || *d.ConfigEntries["retention.ms"] != altered {
			fail("ListTopics: %q is %+v (present: %v)", *topic, d, ok)
		}
		report["listed"] = true
	}

	if version.IsAtLeast(sarama.V1_0_0_0) {
		setStep("CreatePartitions")
		more := int32(*partitions + 2)
		check(admin.CreatePartitions(*topic, more, nil, false), "CreatePartitions")
		waitTopic(client, int(more))
		report["partitions_after_create_partitions"] = int(more)
	}

	setStep("DeleteTopics")
	check(admin.DeleteTopic(*topic), "DeleteTopics")
	waitTopic(client, 0)
	setStep("DeleteTopics again")
	if err := admin.DeleteTopic(*topic); err != sarama.ErrUnknownTopicOrPartition {
		fail("deleting %q again: expected UNKNOWN_TOPIC_OR_PARTITION (3), got %v", *topic, err)
	}
	report["deleted"] = true
	emit(report)
}

func describeMetadata(ms []*sarama.TopicMetadata) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%s: error %v, %d partitions", m.Name, m.Err, len(m.Partitions)))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func topicConfig(admin sarama.ClusterAdmin) map[string]sarama.ConfigEntry {
	setStep("DescribeConfigs")
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: *topic})
	check(err, "DescribeConfigs")
	out := map[string]sarama.ConfigEntry{}
	for _, e := range entries {
		out[e.Name] = e
	}
	return out
}

// describeConfig prints -topic's configuration (DescribeConfigs v0).
func describeConfig() {
	admin := newAdmin()
	defer admin.Close()
	type entry struct {
		Value   string `json:"value"`
		Default bool   `json:"default"`
	}
	out := map[string]entry{}
	for name, e := range topicConfig(admin) {
		out[name] = entry{Value: e.Value, Default: e.Default}
	}
	emit(map[string]interface{}{"configs": out})
}
