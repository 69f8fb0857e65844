// An all-to-all exchange between N processes through the real libfabric: each
// process opens an RDM endpoint, publishes its name in a shared directory,
// reads everybody else's, then sends every other process, all at once, a
// series of messages of every size class (0 B to 1 MiB), tagged and untagged,
// with and without remote CQ data, and checks everything it receives.
//
//   alltoall --rank R --ranks N --dir DIR [--rounds K] [--messages M]
//            [--timeout SECONDS] [--provider NAME] [--queue-size Q]
//
// DIR is shared by the N processes: rank R writes its name there (hex, one
// line) as file "rank.R", through a temporary file and a rename. Every byte of
// a message derives from (source rank, destination rank, round, sequence), and
// so do its tag and its CQ data. Receives are posted in sequence order per
// sender (untagged ones directed to that sender, tagged ones matching the
// sender's tag bits but ignoring the sequence bits), so that the k-th message
// a sender sent must match the k-th receive posted for it: a message out of
// order shows up with the wrong length, tag, data or content.
//
// A final exchange (one tagged message to every peer, after everything else
// completed) keeps each process until all the others are done with it.
// Prints PASS and exits 0 when everything matched, else prints each
// difference and FAIL, and exits 1.
//
// Each round sends M messages (default 24, at least 24) to every peer: the
// first 24 are every size class in each of the four kinds, the rest small
// ones (up to 200 bytes), so that a large M puts more operations in flight
// than the provider's queues hold and posting meets -FI_EAGAIN. --queue-size
// asks for short transmit and receive queues, to the same end.
#include <sched.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_tagged.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "rdm_endpoint.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::array<size_t, 6> kSizes{0, 8, 200, 4096, 40960, 1048576};
// Per sender and round, at least: every size class in each of the four
// kinds (untagged, untagged with data, tagged, tagged with data).
constexpr int kKinds = 4;
constexpr int kPerRound = static_cast<int>(kSizes.size()) * kKinds;
constexpr size_t kSmallClasses = 3;  // 0, 8, 200
// Room after the expected length, so that a longer message shows as a wrong
// length rather than only as a truncation.
constexpr size_t kSlack = 64;
constexpr int kMaxReported = 20;

// Tag layout: marker (8 bits), phase (8), source rank (8), destination
// rank (8), round (16), sequence (16).
constexpr uint64_t kTagMarker = 0xa7;
constexpr uint64_t kPhaseData = 1;
constexpr uint64_t kPhaseDone = 2;
constexpr uint64_t kSequenceBits = 0xffff;

struct Options {
    int rank = -1;
    int ranks = 0;
    std::string dir;
    int rounds = 2;
    int messages = kPerRound;
    int timeout_s = 120;
    std::string provider = "xen2mx";
    size_t queue_size = 0;
};

int g_rank = -1;
int g_reported = 0;
int g_failures = 0;

__attribute__((format(printf, 1, 2))) void report(const char* format, ...) {
    ++g_failures;
    if (++g_reported > kMaxReported) {
        if (g_reported == kMaxReported + 1) std::printf("rank %d: (further differences not shown)\n", g_rank);
        return;
    }
    std::printf("rank %d: ", g_rank);
    va_list args;
    va_start(args, format);
    std::vprintf(format, args);
    va_end(args);
    std::printf("\n");
    std::fflush(stdout);
}

uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t message_seed(int src, int dst, int round, int seq, uint64_t phase) {
    return mix(phase << 56 ^ uint64_t(src) << 48 ^ uint64_t(dst) << 40 ^ uint64_t(round) << 20 ^ uint64_t(seq));
}

void fill(uint8_t* out, size_t len, uint64_t seed) {
    for (size_t at = 0; at < len; at += 8) {
        const uint64_t word = mix(seed + at);
        const size_t n = std::min<size_t>(8, len - at);
        std::memcpy(out + at, &word, n);
    }
}

// The first offset where `bytes` differs from what `seed` makes, or -1.
long first_difference(const uint8_t* bytes, size_t len, uint64_t seed) {
    for (size_t at = 0; at < len; at += 8) {
        const uint64_t word = mix(seed + at);
        const size_t n = std::min<size_t>(8, len - at);
        if (std::memcmp(bytes + at, &word, n) == 0) continue;
        for (size_t i = 0; i < n; ++i) {
            if (bytes[at + i] != reinterpret_cast<const uint8_t*>(&word)[i]) return static_cast<long>(at + i);
        }
    }
    return -1;
}

uint64_t make_tag(uint64_t phase, int src, int dst, int round, int seq) {
    return kTagMarker << 56 | phase << 48 | uint64_t(src) << 40 | uint64_t(dst) << 32 | uint64_t(round) << 16 |
           uint64_t(seq);
}

uint64_t make_data(int src, int dst, int round, int seq) {
    return mix(0xc0da000000000000ull ^ message_seed(src, dst, round, seq, kPhaseData));
}

// What message `seq` of `round` is, from any sender to any receiver.
struct Plan {
    bool tagged;
    bool data;
    size_t len;
};

Plan plan_of(int round, int seq) {
    const int kind = seq % kKinds;
    const int step = seq / kKinds;
    const size_t classes = seq < kPerRound ? kSizes.size() : kSmallClasses;
    return Plan{kind >= 2, kind % 2 == 1, kSizes[static_cast<size_t>(step + kind + round) % classes]};
}

const char* kind_name(const Plan& plan) {
    if (plan.tagged) return plan.data ? "tagged+data" : "tagged";
    return plan.data ? "untagged+data" : "untagged";
}

struct Op {
    fi_context2 context{};  // first: the provider may use it (FI_CONTEXT)
    bool send = false;
    uint64_t phase = kPhaseData;
    int peer = 0;
    int round = 0;
    int seq = 0;
    Plan plan{};
    std::vector<uint8_t> buffer;
    bool posted = false;
    bool done = false;
};

// Completions give back the context pointer: the operation it starts.
static_assert(std::is_standard_layout_v<Op> && offsetof(Op, context) == 0);

struct Fabric : xen2mx::tools::RdmEndpoint {
    bool cq_waits = false;
    bool source = false;
    std::vector<fi_addr_t> addrs;
};

bool parse_int(const char* text, long low, long high, long* out) {
    char* end = nullptr;
    errno = 0;
    const long value = std::strtol(text, &end, 10);
    if (errno || end == text || *end || value < low || value > high) return false;
    *out = value;
    return true;
}

bool parse_options(int argc, char** argv, Options* options) {
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) return false;
        const std::string name = argv[i];
        const char* value = argv[i + 1];
        long number = 0;
        if (name == "--dir") options->dir = value;
        else if (name == "--provider") options->provider = value;
        else if (name == "--rank" && parse_int(value, 0, 255, &number)) options->rank = static_cast<int>(number);
        else if (name == "--ranks" && parse_int(value, 1, 256, &number)) options->ranks = static_cast<int>(number);
        else if (name == "--rounds" && parse_int(value, 1, 1000, &number)) options->rounds = static_cast<int>(number);
        else if (name == "--messages" && parse_int(value, kPerRound, 65535, &number))
            options->messages = static_cast<int>(number);
        else if (name == "--timeout" && parse_int(value, 1, 86400, &number)) options->timeout_s = static_cast<int>(number);
        else if (name == "--queue-size" && parse_int(value, 1, 1 << 20, &number)) options->queue_size = size_t(number);
        else return false;
    }
    return options->ranks > 0 && options->rank >= 0 && options->rank < options->ranks && !options->dir.empty();
}

std::string to_hex(const std::vector<uint8_t>& bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string text;
    for (uint8_t byte : bytes) {
        text += digits[byte >> 4];
        text += digits[byte & 15];
    }
    return text;
}

std::optional<std::vector<uint8_t>> from_hex(const std::string& text) {
    if (text.empty() || text.size() % 2) return std::nullopt;
    std::vector<uint8_t> bytes;
    for (size_t i = 0; i < text.size(); i += 2) {
        unsigned value = 0;
        if (std::sscanf(text.substr(i, 2).c_str(), "%2x", &value) != 1) return std::nullopt;
        bytes.push_back(static_cast<uint8_t>(value));
    }
    return bytes;
}

bool check(int ret, const char* what) {
    if (ret == 0) return true;
    report("%s: %s (%d)", what, fi_strerror(-ret), ret);
    return false;
}

bool open_fabric(const Options& options, Fabric* f) {
    xen2mx::test::InfoPtr hints(fi_allocinfo());
    if (!hints) return false;
    hints->ep_attr->type = FI_EP_RDM;
    hints->caps = FI_MSG | FI_TAGGED | FI_SEND | FI_RECV | FI_DIRECTED_RECV | FI_SOURCE;
    hints->mode = FI_CONTEXT | FI_CONTEXT2;
    hints->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
    hints->domain_attr->threading = FI_THREAD_DOMAIN;
    hints->domain_attr->av_type = FI_AV_TABLE;
    hints->fabric_attr->prov_name = strdup(options.provider.c_str());
    if (options.queue_size) {
        hints->tx_attr->size = options.queue_size;
        hints->rx_attr->size = options.queue_size;
    }
    const char* failed = "";
    if (const int ret = f->open_domain(hints.get(), &failed)) {
        report("%s for provider %s: %s (%d)", failed, options.provider.c_str(), fi_strerror(-ret), ret);
        return false;
    }
    if (f->info->domain_attr->cq_data_size < 8) {
        report("provider %s offers %zu bytes of CQ data, 8 needed", f->info->fabric_attr->prov_name,
               f->info->domain_attr->cq_data_size);
        return false;
    }
    f->source = f->info->caps & FI_SOURCE;

    fi_cq_attr cq_attr{};
    cq_attr.format = FI_CQ_FORMAT_TAGGED;
    cq_attr.size = 4096;
    cq_attr.wait_obj = FI_WAIT_UNSPEC;
    f->cq_waits = true;
    if (fi_cq_open(f->domain.get(), &cq_attr, f->cq.out(), nullptr) != 0) {
        cq_attr.wait_obj = FI_WAIT_NONE;
        f->cq_waits = false;
        if (!check(fi_cq_open(f->domain.get(), &cq_attr, f->cq.out(), nullptr), "fi_cq_open")) return false;
    }
    if (const int ret = f->open_endpoint(static_cast<size_t>(options.ranks), &failed)) return check(ret, failed);
    return true;
}

bool close_fabric(Fabric* f) {
    return f->close([](const char* what, int ret) { report("fi_close(%s): %s (%d)", what, fi_strerror(-ret), ret); });
}

bool publish_name(const Options& options, const Fabric& f) {
    std::vector<uint8_t> name;
    if (!check(f.name(&name), "fi_getname")) return false;
    const std::string path = options.dir + "/rank." + std::to_string(options.rank);
    const std::string temporary = options.dir + "/.rank." + std::to_string(options.rank) + ".tmp";
    {
        std::ofstream out(temporary, std::ios::trunc);
        out << to_hex(name) << "\n";
        if (!out.flush()) {
            report("cannot write %s", temporary.c_str());
            return false;
        }
    }
    if (std::rename(temporary.c_str(), path.c_str()) != 0) {
        report("cannot rename %s to %s: %s", temporary.c_str(), path.c_str(), std::strerror(errno));
        return false;
    }
    return true;
}

bool gather_names(const Options& options, Fabric* f, Clock::time_point deadline) {
    std::vector<std::vector<uint8_t>> names(static_cast<size_t>(options.ranks));
    int missing = options.ranks;
    while (missing > 0) {
        for (int r = 0; r < options.ranks; ++r) {
            if (!names[size_t(r)].empty()) continue;
            std::ifstream in(options.dir + "/rank." + std::to_string(r));
            std::string line;
            if (!in || !std::getline(in, line)) continue;
            auto name = from_hex(line);
            if (!name) {
                report("rank.%d holds no name: \"%s\"", r, line.c_str());
                return false;
            }
            names[size_t(r)] = std::move(*name);
            --missing;
        }
        if (missing == 0) break;
        if (Clock::now() > deadline) {
            std::string absent;
            for (int r = 0; r < options.ranks; ++r) {
                if (names[size_t(r)].empty()) absent += " " + std::to_string(r);
            }
            report("timed out waiting for the names of rank(s)%s in %s", absent.c_str(), options.dir.c_str());
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    f->addrs.assign(size_t(options.ranks), FI_ADDR_NOTAVAIL);
    for (int r = 0; r < options.ranks; ++r) {
        const int ret = fi_av_insert(f->av.get(), names[size_t(r)].data(), 1, &f->addrs[size_t(r)], 0, nullptr);
        if (ret != 1) {
            report("fi_av_insert of rank %d's name %s: %d", r, to_hex(names[size_t(r)]).c_str(), ret);
            return false;
        }
    }
    return true;
}

// The exchange of one phase: posts every receive and send of `ops` (per peer
// in order), retrying on -FI_EAGAIN, and checks each completion.
class Exchange {
public:
    Exchange(const Options& options, Fabric& f) : options_(options), f_(f) {}

    std::deque<Op>& ops() { return ops_; }
    long eagain() const { return eagain_; }

    // Returns false on timeout or a fatal error; differences are reported
    // and counted as they are found.
    bool run(Clock::time_point deadline, const char* what) {
        std::vector<std::vector<Op*>> sends(size_t(options_.ranks)), recvs(size_t(options_.ranks));
        for (Op& op : ops_) (op.send ? sends : recvs)[size_t(op.peer)].push_back(&op);
        std::vector<size_t> next_send(size_t(options_.ranks)), next_recv(size_t(options_.ranks));
        size_t left = ops_.size();
        outstanding_ = &left;
        while (left > 0) {
            // Receives first, one per peer in turn; then sends, starting with
            // the next rank so that everybody does not hit rank 0 first. A
            // full receive queue does not hold the sends back, nor the reverse.
            bool any_blocked = false;
            for (int pass = 0; pass < 2; ++pass) {
                auto& lists = pass == 0 ? recvs : sends;
                auto& next = pass == 0 ? next_recv : next_send;
                bool blocked = false;
                for (bool more = true; more && !blocked;) {
                    more = false;
                    for (int i = 1; i <= options_.ranks && !blocked; ++i) {
                        const size_t peer = size_t((options_.rank + i) % options_.ranks);
                        if (next[peer] >= lists[peer].size()) continue;
                        const ssize_t ret = post(*lists[peer][next[peer]]);
                        if (ret == -FI_EAGAIN) {
                            ++eagain_;
                            blocked = true;
                        } else if (ret) {
                            Op& op = *lists[peer][next[peer]];
                            report("posting %s %s #%d of round %d (%s, %zu B) %s rank %d: %s (%zd)", what,
                                   op.send ? "send" : "receive", op.seq, op.round, kind_name(op.plan), op.plan.len,
                                   op.send ? "to" : "from", op.peer, fi_strerror(int(-ret)), ret);
                            return false;
                        } else {
                            ++next[peer];
                            more = true;
                        }
                    }
                }
                any_blocked = any_blocked || blocked;
            }
            if (poll(any_blocked) < 0) return false;
            if (left > 0 && Clock::now() > deadline) {
                describe_outstanding(what);
                return false;
            }
        }
        return true;
    }

private:
    ssize_t post(Op& op) {
        void* context = &op.context;
        const fi_addr_t addr = f_.addrs[size_t(op.peer)];
        ssize_t ret;
        if (op.send) {
            const uint64_t tag = make_tag(op.phase, options_.rank, op.peer, op.round, op.seq);
            const uint64_t data = make_data(options_.rank, op.peer, op.round, op.seq);
            void* buf = op.buffer.data();
            const size_t len = op.plan.len;
            if (op.plan.tagged) {
                ret = op.plan.data ? fi_tsenddata(f_.ep.get(), buf, len, nullptr, data, addr, tag, context)
                                   : fi_tsend(f_.ep.get(), buf, len, nullptr, addr, tag, context);
            } else {
                ret = op.plan.data ? fi_senddata(f_.ep.get(), buf, len, nullptr, data, addr, context)
                                   : fi_send(f_.ep.get(), buf, len, nullptr, addr, context);
            }
        } else if (op.plan.tagged) {
            // Any source: the tag names the sender; the sequence bits are ignored.
            const uint64_t tag = make_tag(op.phase, op.peer, options_.rank, op.round, 0);
            ret = fi_trecv(f_.ep.get(), op.buffer.data(), op.buffer.size(), nullptr, FI_ADDR_UNSPEC, tag, kSequenceBits,
                           context);
        } else {
            ret = fi_recv(f_.ep.get(), op.buffer.data(), op.buffer.size(), nullptr, addr, context);
        }
        if (ret == 0) op.posted = true;
        return ret;
    }

    static Op* op_of(void* context) { return reinterpret_cast<Op*>(context); }

    // Reads completions; waits a little when there is nothing to post.
    // Returns how many were handled, or -1 on a fatal error.
    ssize_t poll(bool blocked) {
        std::array<fi_cq_tagged_entry, 32> entries;
        std::array<fi_addr_t, 32> sources;
        ssize_t ret;
        if (f_.cq_waits && !blocked) {
            ret = fi_cq_sreadfrom(f_.cq.get(), entries.data(), entries.size(), sources.data(), nullptr, 100);
        } else {
            ret = fi_cq_readfrom(f_.cq.get(), entries.data(), entries.size(), sources.data());
            if (ret == -FI_EAGAIN) sched_yield();
        }
        if (ret == -FI_EAGAIN) return 0;
        if (ret == -FI_EAVAIL) {
            fi_cq_err_entry error{};
            const ssize_t got = fi_cq_readerr(f_.cq.get(), &error, 0);
            if (got != 1) {
                report("fi_cq_readerr: %zd", got);
                return -1;
            }
            Op* op = op_of(error.op_context);
            char detail[256] = "";
            fi_cq_strerror(f_.cq.get(), error.prov_errno, error.err_data, detail, sizeof detail);
            if (!op) {
                report("error completion without context: %s (%d) %s", fi_strerror(error.err), error.err, detail);
                return -1;
            }
            report("%s #%d of round %d (%s, %zu B) %s rank %d completed in error: %s (%d), olen %zu, %s",
                   op->send ? "send" : "receive", op->seq, op->round, kind_name(op->plan), op->plan.len,
                   op->send ? "to" : "from", op->peer, fi_strerror(error.err), error.err, error.olen, detail);
            finish(*op);
            return 1;
        }
        if (ret < 0) {
            report("reading the completion queue: %s (%zd)", fi_strerror(int(-ret)), ret);
            return -1;
        }
        for (ssize_t i = 0; i < ret; ++i) {
            if (!entries[size_t(i)].op_context) {
                report("completion without context (flags 0x%llx)",
                       static_cast<unsigned long long>(entries[size_t(i)].flags));
                continue;
            }
            complete(*op_of(entries[size_t(i)].op_context), entries[size_t(i)], sources[size_t(i)]);
        }
        return ret;
    }

    void finish(Op& op) {
        if (op.done) {
            report("%s #%d of round %d to/from rank %d completed twice", op.send ? "send" : "receive", op.seq,
                   op.round, op.peer);
            return;
        }
        op.done = true;
        --*outstanding_;
    }

    void complete(Op& op, const fi_cq_tagged_entry& entry, fi_addr_t source) {
        char where[128];
        std::snprintf(where, sizeof where, "%s #%d of round %d (%s, %zu B) %s rank %d", op.send ? "send" : "receive",
                      op.seq, op.round, kind_name(op.plan), op.plan.len, op.send ? "to" : "from", op.peer);
        const uint64_t kind_flag = op.plan.tagged ? FI_TAGGED : FI_MSG;
        if (op.send) {
            if (!(entry.flags & FI_SEND) || !(entry.flags & kind_flag))
                report("%s: flags 0x%llx lack FI_SEND or %s", where, static_cast<unsigned long long>(entry.flags),
                       op.plan.tagged ? "FI_TAGGED" : "FI_MSG");
            finish(op);
            return;
        }
        if (!(entry.flags & FI_RECV) || !(entry.flags & kind_flag))
            report("%s: flags 0x%llx lack FI_RECV or %s", where, static_cast<unsigned long long>(entry.flags),
                   op.plan.tagged ? "FI_TAGGED" : "FI_MSG");
        if (entry.len != op.plan.len) report("%s: length %zu, expected %zu", where, entry.len, op.plan.len);
        if (op.plan.tagged) {
            const uint64_t tag = make_tag(op.phase, op.peer, options_.rank, op.round, op.seq);
            if (entry.tag != tag)
                report("%s: tag 0x%016llx, expected 0x%016llx", where, static_cast<unsigned long long>(entry.tag),
                       static_cast<unsigned long long>(tag));
        }
        const bool has_data = entry.flags & FI_REMOTE_CQ_DATA;
        if (op.plan.data) {
            const uint64_t data = make_data(op.peer, options_.rank, op.round, op.seq);
            if (!has_data) report("%s: no remote CQ data, expected 0x%016llx", where, static_cast<unsigned long long>(data));
            else if (entry.data != data)
                report("%s: CQ data 0x%016llx, expected 0x%016llx", where, static_cast<unsigned long long>(entry.data),
                       static_cast<unsigned long long>(data));
        } else if (has_data) {
            report("%s: unexpected remote CQ data 0x%016llx", where, static_cast<unsigned long long>(entry.data));
        }
        if (f_.source && source != f_.addrs[size_t(op.peer)])
            report("%s: source fi_addr %llu, expected %llu", where, static_cast<unsigned long long>(source),
                   static_cast<unsigned long long>(f_.addrs[size_t(op.peer)]));
        const size_t checked = std::min(entry.len, op.plan.len);
        const long at = first_difference(op.buffer.data(), checked,
                                         message_seed(op.peer, options_.rank, op.round, op.seq, op.phase));
        if (at >= 0) report("%s: content differs from byte %ld on", where, at);
        finish(op);
    }

    void describe_outstanding(const char* what) {
        std::vector<std::array<int, 4>> counts(size_t(options_.ranks));  // send unposted/posted, recv unposted/posted
        for (const Op& op : ops_) {
            if (op.done) continue;
            ++counts[size_t(op.peer)][(op.send ? 0 : 2) + (op.posted ? 1 : 0)];
        }
        for (int peer = 0; peer < options_.ranks; ++peer) {
            const auto& c = counts[size_t(peer)];
            if (c[0] + c[1] + c[2] + c[3] == 0) continue;
            report("timed out in the %s exchange: with rank %d, %d send(s) in flight and %d not posted, "
                   "%d receive(s) waiting and %d not posted",
                   what, peer, c[1], c[0], c[3], c[2]);
        }
    }

    const Options& options_;
    Fabric& f_;
    std::deque<Op> ops_;
    size_t* outstanding_ = nullptr;
    long eagain_ = 0;
};

void add_ops(Exchange& exchange, const Options& options, uint64_t phase, int round, int count) {
    for (int peer = 0; peer < options.ranks; ++peer) {
        if (peer == options.rank) continue;
        for (int seq = 0; seq < count; ++seq) {
            const Plan plan = phase == kPhaseData ? plan_of(round, seq) : Plan{true, false, 8};
            Op& send = exchange.ops().emplace_back();
            send.send = true;
            send.phase = phase;
            send.peer = peer;
            send.round = round;
            send.seq = seq;
            send.plan = plan;
            send.buffer.resize(std::max<size_t>(plan.len, 1));
            fill(send.buffer.data(), plan.len, message_seed(options.rank, peer, round, seq, phase));
            Op& recv = exchange.ops().emplace_back();
            recv.phase = phase;
            recv.peer = peer;
            recv.round = round;
            recv.seq = seq;
            recv.plan = plan;
            recv.buffer.assign(plan.len + kSlack, 0);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    if (!parse_options(argc, argv, &options)) {
        std::fprintf(stderr,
                     "usage: %s --rank R --ranks N --dir DIR [--rounds K] [--messages M] [--timeout SECONDS] "
                     "[--provider NAME] [--queue-size Q]\n",
                     argv[0]);
        return 2;
    }
    g_rank = options.rank;
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::seconds(options.timeout_s);

    Fabric f;
    long eagain = 0;
    long messages = 0;
    uint64_t bytes = 0;
    bool ok = open_fabric(options, &f) && publish_name(options, f) && gather_names(options, &f, deadline);
    if (ok) {
        unsigned long long per_peer = 0;
        for (int round = 0; round < options.rounds; ++round) {
            for (int seq = 0; seq < options.messages; ++seq) per_peer += plan_of(round, seq).len;
        }
        std::printf("rank %d: %s, %s, %d peer(s), %llu bytes of messages to each\n", options.rank,
                    f.info->fabric_attr->prov_name, f.cq_waits ? "waiting on the CQ" : "polling the CQ",
                    options.ranks - 1, per_peer);
    }
    for (int round = 0; ok && round < options.rounds; ++round) {
        Exchange exchange(options, f);
        add_ops(exchange, options, kPhaseData, round, options.messages);
        ok = exchange.run(deadline, "data");
        eagain += exchange.eagain();
        for (const Op& op : exchange.ops()) {
            if (!op.send) continue;
            ++messages;
            bytes += op.plan.len;
        }
    }
    // Everything sent has completed and everything expected has arrived: one
    // more message each way tells the peers so, and nobody leaves before
    // hearing it from all the others and having its own acknowledged. What a
    // peer may still wait for then is the acknowledgement of its last
    // message, which the provider owes and sends at the latest when the
    // endpoint closes.
    if (ok) {
        Exchange done(options, f);
        add_ops(done, options, kPhaseDone, 0, 1);
        ok = done.run(deadline, "final");
        eagain += done.eagain();
    }
    const bool closed = close_fabric(&f);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (ok && closed && g_failures == 0) {
        std::printf("PASS rank %d of %d: %d round(s), %ld messages (%llu bytes) sent and as many received, "
                    "all checked; %ld -FI_EAGAIN; %.2f s\n",
                    options.rank, options.ranks, options.rounds, messages, static_cast<unsigned long long>(bytes),
                    eagain, seconds);
        return 0;
    }
    std::printf("FAIL rank %d of %d: %d difference(s) or error(s)\n", options.rank, options.ranks, g_failures);
    return 1;
}
