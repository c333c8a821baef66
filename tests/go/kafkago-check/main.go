// Command kafkago-check drives a Kafka-compatible broker with segmentio's kafka-go 0.2.1
// (Debian's, built in GOPATH mode from /usr/share/gocode), for the compatibility suite
// (tests/compat/test_go_clients.py).
//
// kafka-go 0.2 speaks fixed, old request versions: Produce v2 and Fetch v2 with message format 1
// (magic 1, compressed sets wrapped in one message), ListOffsets v1, Metadata v1, CreateTopics v0,
// DeleteTopics v1, and for groups FindCoordinator v0, JoinGroup v1, SyncGroup v0, Heartbeat v0,
// OffsetCommit v2, OffsetFetch v1 and LeaveGroup v0. It cannot read record batches (format 2), so
// every fetch it makes needs the broker to down-convert.
//
// Each mode does one job, checks what it can by itself and prints one JSON document on stdout.
// Any failure prints "kafkago-check FAIL: ..." on stderr and exits non-zero; a watchdog bounds
// the whole run (-timeout).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/gzip"
	"github.com/segmentio/kafka-go/lz4"
	"github.com/segmentio/kafka-go/snappy"
)

var (
	bootstrap   = flag.String("bootstrap", "", "host:port of a broker")
	mode        = flag.String("mode", "", "create | delete | produce | group-read | read | conn-read")
	topic       = flag.String("topic", "", "topic (create and delete: comma-separated topics)")
	group       = flag.String("group", "", "consumer group id")
	n           = flag.Int("n", 100, "produce: records to write; group-read: records to read and commit")
	prefix      = flag.String("prefix", "v", "produce: values are <prefix>-<index, 5 digits>")
	keys        = flag.Int("keys", 13, "produce: keys are key-<index mod keys, 2 digits>")
	tsBase      = flag.Int64("ts-base", 1600000000000, "produce: record i gets timestamp ts-base+i ms")
	compression = flag.String("compression", "none", "produce: none | gzip | snappy | lz4")
	partition   = flag.Int("partition", 0, "read, conn-read: the partition")
	from        = flag.Int64("from", 0, "read, conn-read: the first offset to read")
	partitions  = flag.Int("partitions", 3, "create: partitions of each topic")
	configFlag  = flag.String("config", "retention.ms=123456", "create: name=value set on each topic")
	linger      = flag.Duration("linger", 0, "group-read: after -n records, wait this long and fail if another arrives")
	session     = flag.Duration("session", 6*time.Second, "group-read: the group session timeout")
	timeout     = flag.Duration("timeout", 60*time.Second, "bound on the whole run")
)

var step atomic.Value

func main() {
	flag.Parse()
	step.Store("starting")
	watchdog := time.AfterFunc(*timeout, func() {
		fmt.Fprintf(os.Stderr, "kafkago-check FAIL: mode %s timed out after %s while %s\n", *mode, *timeout, step.Load())
		os.Exit(3)
	})
	defer watchdog.Stop()
	if *bootstrap == "" || *topic == "" {
		fail("-bootstrap and -topic are required")
	}
	switch *mode {
	case "create":
		create()
	case "delete":
		deleteTopics()
	case "produce":
		produce()
	case "group-read":
		groupRead()
	case "read":
		read()
	case "conn-read":
		connRead()
	default:
		fail("unknown -mode %q", *mode)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kafkago-check FAIL: mode %s, topic %q: %s\n", *mode, *topic, fmt.Sprintf(format, args...))
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

func logger(name string) *log.Logger {
	return log.New(os.Stderr, "[kafka-go "+name+"] ", log.Ltime|log.Lmicroseconds)
}

type record struct {
	Partition int     `json:"partition"`
	Offset    int64   `json:"offset"`
	Key       *string `json:"key"`
	Value     *string `json:"value"`
	Timestamp int64   `json:"timestamp"`
}

func toRecord(m kafka.Message) record {
	r := record{Partition: m.Partition, Offset: m.Offset, Timestamp: m.Time.UnixNano() / int64(time.Millisecond)}
	if m.Key != nil {
		k := string(m.Key)
		r.Key = &k
	}
	if m.Value != nil {
		v := string(m.Value)
		r.Value = &v
	}
	return r
}

func sortRecords(rs []record) {
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].Partition != rs[j].Partition {
			return rs[i].Partition < rs[j].Partition
		}
		return rs[i].Offset < rs[j].Offset
	})
}

func dial() *kafka.Conn {
	setStep("dialing %s", *bootstrap)
	conn, err := kafka.Dial("tcp", *bootstrap)
	check(err, "dialing")
	check(conn.SetDeadline(time.Now().Add(30*time.Second)), "setting a deadline")
	return conn
}

// partitionsOf is ReadPartitions (Metadata v1) for the topics named.
func partitionsOf(conn *kafka.Conn, topics ...string) map[string][]kafka.Partition {
	ps, err := conn.ReadPartitions(topics...)
	check(err, "ReadPartitions (Metadata v1)")
	out := map[string][]kafka.Partition{}
	for _, p := range ps {
		out[p.Topic] = append(out[p.Topic], p)
	}
	return out
}

// create makes each topic of -topic with CreateTopics v0 (partitions and a config entry), then
// waits until ReadPartitions lists all their partitions, each with a leader.
func create() {
	kv := strings.SplitN(*configFlag, "=", 2)
	if len(kv) != 2 {
		fail("bad -config %q", *configFlag)
	}
	names := strings.Split(*topic, ",")
	conn := dial()
	defer conn.Close()
	var configs []kafka.TopicConfig
	for _, t := range names {
		configs = append(configs, kafka.TopicConfig{Topic: t, NumPartitions: *partitions, ReplicationFactor: 1,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: kv[0], ConfigValue: kv[1]}}})
	}
	setStep("CreateTopics v0")
	check(conn.CreateTopics(configs...), "CreateTopics v0")
	report := map[string][]int{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		setStep("waiting for the partitions in ReadPartitions")
		check(conn.SetDeadline(time.Now().Add(30*time.Second)), "setting a deadline")
		got := partitionsOf(conn, names...)
		ready := true
		for _, t := range names {
			ready = ready && len(got[t]) == *partitions
			for _, p := range got[t] {
				ready = ready && p.Leader.Port != 0
			}
		}
		if ready {
			for _, t := range names {
				var ids []int
				for _, p := range got[t] {
					ids = append(ids, p.ID)
				}
				sort.Ints(ids)
				report[t] = ids
			}
			break
		}
		if time.Now().After(deadline) {
			fail("after 30s ReadPartitions shows %v, expected %d partitions with leaders each", got, *partitions)
		}
		time.Sleep(100 * time.Millisecond)
	}
	emit(map[string]interface{}{"partitions": report})
}

// deleteTopics deletes each topic of -topic (DeleteTopics v1), then checks that deleting them
// again is refused with UNKNOWN_TOPIC_OR_PARTITION.
func deleteTopics() {
	names := strings.Split(*topic, ",")
	conn := dial()
	defer conn.Close()
	setStep("DeleteTopics v1")
	check(conn.DeleteTopics(names...), "DeleteTopics v1")
	for _, t := range names {
		setStep("DeleteTopics v1 of %s again", t)
		check(conn.SetDeadline(time.Now().Add(30*time.Second)), "setting a deadline")
		if err := conn.DeleteTopics(t); err != kafka.UnknownTopicOrPartition {
			fail("deleting %q again: expected UNKNOWN_TOPIC_OR_PARTITION (3), got %v", t, err)
		}
	}
	emit(map[string]interface{}{"deleted": names})
}

func codec(name string) kafka.CompressionCodec {
	switch name {
	case "none":
		return nil
	case "gzip":
		return gzip.NewCompressionCodec()
	case "snappy":
		return snappy.NewCompressionCodec()
	case "lz4":
		return lz4.NewCompressionCodec()
	}
	fail("unknown -compression %q", name)
	return nil
}

// produce writes -n keyed records with a Writer (Hash balancer, batches of 20).
func produce() {
	w := kafka.NewWriter(kafka.WriterConfig{
		Brokers: []string{*bootstrap}, Topic: *topic, Balancer: &kafka.Hash{},
		BatchSize: 20, BatchTimeout: 20 * time.Millisecond, RequiredAcks: -1, MaxAttempts: 3,
		ReadTimeout: 20 * time.Second, WriteTimeout: 20 * time.Second,
		CompressionCodec: codec(*compression), ErrorLogger: logger("writer"),
	})
	msgs := make([]kafka.Message, *n)
	for i := range msgs {
		msgs[i] = kafka.Message{
			Key:   []byte(fmt.Sprintf("key-%02d", i%*keys)),
			Value: []byte(fmt.Sprintf("%s-%05d", *prefix, i)),
			Time:  time.Unix(0, (*tsBase+int64(i))*int64(time.Millisecond)),
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	setStep("writing %d records (%s)", *n, *compression)
	check(w.WriteMessages(ctx, msgs...), "Writer.WriteMessages (Produce v2)")
	setStep("closing the writer")
	check(w.Close(), "closing the Writer")
	stats := w.Stats()
	emit(map[string]interface{}{"written": len(msgs), "errors": stats.Errors})
}

// groupRead joins -group with a Reader, reads -n records and commits each synchronously
// (OffsetCommit v2), then optionally checks that nothing more arrives, and closes the Reader.
// kafka-go 0.2.1's Reader.Close does not leave the group: it dials the coordinator for the
// LeaveGroup with the context it has just cancelled. The member stays until its session times
// out (-session), and the next member's JoinGroup waits for that, as it would with Kafka.
func groupRead() {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{*bootstrap}, GroupID: *group, Topic: *topic,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond,
		HeartbeatInterval: time.Second, SessionTimeout: *session, RebalanceTimeout: 10 * time.Second,
		CommitInterval: 0, ErrorLogger: logger("reader"),
	})
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var out []record
	for len(out) < *n {
		setStep("group %s: reading record %d of %d", *group, len(out)+1, *n)
		m, err := r.FetchMessage(ctx)
		check(err, fmt.Sprintf("FetchMessage after %d records", len(out)))
		out = append(out, toRecord(m))
		setStep("group %s: committing partition %d offset %d", *group, m.Partition, m.Offset+1)
		check(r.CommitMessages(ctx, m), fmt.Sprintf("CommitMessages of partition %d offset %d", m.Partition, m.Offset))
	}
	if *linger > 0 {
		setStep("group %s: checking that nothing follows", *group)
		lctx, lcancel := context.WithTimeout(ctx, *linger)
		m, err := r.FetchMessage(lctx)
		lcancel()
		if err == nil {
			fail("a record beyond the %d expected: partition %d offset %d value %q", *n, m.Partition, m.Offset, m.Value)
		}
		if err != context.DeadlineExceeded {
			fail("waiting for nothing: %v", err)
		}
	}
	setStep("closing the reader (LeaveGroup)")
	check(r.Close(), "closing the Reader")
	sortRecords(out)
	emit(map[string]interface{}{"records": out})
}

// lastOffset is the partition's end offset (ListOffsets v1) from its leader.
func lastOffset(ctx context.Context) (int64, int64) {
	setStep("DialLeader for partition %d", *partition)
	conn, err := kafka.DialLeader(ctx, "tcp", *bootstrap, *topic, *partition)
	check(err, "DialLeader")
	defer conn.Close()
	check(conn.SetDeadline(time.Now().Add(30*time.Second)), "setting a deadline")
	first, last, err := conn.ReadOffsets()
	check(err, "ReadOffsets (ListOffsets v1)")
	return first, last
}

// read reads -partition from offset -from to its end with a Reader outside any group.
func read() {
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	first, last := lastOffset(ctx)
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{*bootstrap}, Topic: *topic, Partition: *partition,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond, ErrorLogger: logger("reader"),
	})
	check(r.SetOffset(*from), "SetOffset")
	out := []record{}
	for next := *from; next < last; next++ {
		setStep("reading partition %d offset %d (end %d)", *partition, next, last)
		m, err := r.ReadMessage(ctx)
		check(err, fmt.Sprintf("ReadMessage at offset %d", next))
		if m.Offset != next || m.Partition != *partition {
			fail("expected partition %d offset %d next, got partition %d offset %d", *partition, next, m.Partition, m.Offset)
		}
		out = append(out, toRecord(m))
	}
	check(r.Close(), "closing the Reader")
	emit(map[string]interface{}{"records": out, "first": first, "last": last})
}

// connRead reads -partition from offset -from to its end with Conn.ReadBatch (Fetch v2).
func connRead() {
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	setStep("DialLeader for partition %d", *partition)
	conn, err := kafka.DialLeader(ctx, "tcp", *bootstrap, *topic, *partition)
	check(err, "DialLeader")
	defer conn.Close()
	check(conn.SetDeadline(time.Now().Add(30*time.Second)), "setting a deadline")
	first, last, err := conn.ReadOffsets()
	check(err, "ReadOffsets (ListOffsets v1)")
	_, err = conn.Seek(*from, kafka.SeekAbsolute)
	check(err, "Seek")
	out := []record{}
	next := *from
	for batches := 0; next < last; batches++ {
		if batches == 1000 {
			fail("no end after 1000 batches (at offset %d, end %d)", next, last)
		}
		setStep("ReadBatch at offset %d (end %d)", next, last)
		check(conn.SetDeadline(time.Now().Add(30*time.Second)), "setting a deadline")
		batch := conn.ReadBatch(1, 1<<20)
		for next < last {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			if m.Offset != next {
				fail("expected offset %d next, got %d", next, m.Offset)
			}
			m.Partition = *partition
			out = append(out, toRecord(m))
			next++
		}
		if err := batch.Close(); err != nil {
			fail("closing a batch at offset %d: %v", next, err)
		}
	}
	emit(map[string]interface{}{"records": out, "first": first, "last": last})
}
