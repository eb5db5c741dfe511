// tests/container/FakeDaemon.java -- a stand-in for the KCL MultiLangDaemon that floods everything run.sh sends to
// stdout, for tests/container/run.sh. The fake `java` script execs it, so the process run.sh signals is a JVM, as
// in the container (which also means SIGPIPE is ignored and a write to a pipe without a reader fails instead).
//
//   java FakeDaemon LOG_FILE LINES_PER_SOURCE ROTATE_BYTES DONE_FILE
//
// Four sources write at once, as fast as they can: the daemon's stdout and stderr (System.out and System.err, one
// write and flush per line, as logback's ConsoleAppender does) and two "processors" appending to LOG_FILE as
// kcl_multilang::logging does: one write per line with O_APPEND, a stat of the name before each write (reopening
// when another writer rotated the file), and rotation when the file would grow past ROTATE_BYTES (FILE.n ->
// FILE.n+1, FILE -> FILE.1, a new FILE). No backup is ever removed, so the test can read every line written.
//
// Every line is SOURCE-SEQ-LEN-PAYLOAD-end, PAYLOAD being LEN times the source's letter (out o, err e, log0 l,
// log1 m): a line made of pieces of two lines cannot pass for a whole one. Each source writes LINES_PER_SOURCE
// long lines whose lengths cycle through LENGTHS (up to 1.5 MB), each followed by SHORT lines of 40-140 bytes;
// then DONE_FILE gets "lines=N bytes=N seconds=S". On SIGTERM every source writes one more 1 MB line, then all but
// log1 one without its newline (a partial last line), and the JVM exits 0.
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

public final class FakeDaemon {
    static final int[] LENGTHS = {1, 80, 200, 4095, 4096, 4097, 9000, 65535, 65536, 65537, 200000, 1048576, 1500000,
        20, 300, 3000};
    static final int SHORT = 100;
    /** Rotations of the two log writers are serialized: what the follower must survive is a rotation, not two
     *  processes renaming the same files at once (a race of the writers, which could rename a backup over another). */
    static final Object ROTATION = new Object();
    static final AtomicLong LINES = new AtomicLong();
    static final AtomicLong BYTES = new AtomicLong();

    interface Sink {
        void write(byte[] line) throws IOException;
    }

    static byte[] line(String source, long seq, int len, char letter, boolean newline) {
        byte[] head = (source + "-" + seq + "-" + len + "-").getBytes(StandardCharsets.US_ASCII);
        byte[] out = new byte[head.length + len + 4 + (newline ? 1 : 0)];
        System.arraycopy(head, 0, out, 0, head.length);
        Arrays.fill(out, head.length, head.length + len, (byte) letter);
        System.arraycopy("-end\n".getBytes(StandardCharsets.US_ASCII), 0, out, head.length + len, 4 + (newline ? 1 : 0));
        return out;
    }

    static Sink console(PrintStream stream) {
        return line -> {
            stream.write(line, 0, line.length);
            stream.flush();
        };
    }

    /** One processor's handle on the log file. */
    static final class LogWriter implements Sink {
        final Path path;
        final long rotateBytes;
        FileChannel channel;
        Object key;

        LogWriter(Path path, long rotateBytes) throws IOException {
            this.path = path;
            this.rotateBytes = rotateBytes;
            reopen();
        }

        void reopen() throws IOException {
            if (channel != null) channel.close();
            channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.APPEND);
            key = Files.readAttributes(path, BasicFileAttributes.class).fileKey();
        }

        BasicFileAttributes atPath() throws IOException {
            try {
                return Files.readAttributes(path, BasicFileAttributes.class);
            } catch (NoSuchFileException e) {
                return null;
            }
        }

        @Override
        public void write(byte[] line) throws IOException {
            BasicFileAttributes now = atPath();
            if (now == null || !now.fileKey().equals(key)) {
                reopen();
                now = atPath();
            }
            if (now != null && now.size() > 0 && now.size() + line.length > rotateBytes) {
                rotate();
            }
            // Deliberately no lock from the check to the write: a rotation by the other writer in between makes
            // this line land in the rotated file, as it can with the real processors.
            ByteBuffer buffer = ByteBuffer.wrap(line);
            while (buffer.hasRemaining()) channel.write(buffer);
        }

        void rotate() throws IOException {
            synchronized (ROTATION) {
                BasicFileAttributes now = atPath();
                if (now != null && now.fileKey().equals(key)) {
                    int n = 1;
                    while (Files.exists(numbered(n))) n++;
                    for (int k = n - 1; k >= 1; k--) Files.move(numbered(k), numbered(k + 1));
                    Files.move(path, numbered(1));
                }
                reopen();
            }
        }

        Path numbered(int n) {
            return Paths.get(path + "." + n);
        }
    }

    static Thread flood(String source, char letter, Sink sink, int lines) {
        Thread thread = new Thread(() -> {
            try {
                long seq = 0;
                for (int i = 0; i < lines; i++) {
                    int len = LENGTHS[i % LENGTHS.length];
                    emit(sink, line(source, seq++, len, letter, true));
                    for (int s = 0; s < SHORT; s++) {
                        emit(sink, line(source, seq++, 40 + (int) ((seq * 37) % 101), letter, true));
                    }
                }
            } catch (IOException e) {
                throw new RuntimeException(source + ": " + e, e);
            }
        }, source);
        thread.start();
        return thread;
    }

    static void emit(Sink sink, byte[] line) throws IOException {
        sink.write(line);
        LINES.incrementAndGet();
        BYTES.addAndGet(line.length);
    }

    public static void main(String[] args) throws Exception {
        Path log = Paths.get(args[0]);
        int lines = Integer.parseInt(args[1]);
        long rotateBytes = Long.parseLong(args[2]);
        Path done = Paths.get(args[3]);
        long last = (long) lines * (1 + SHORT);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                Sink[] sinks = {console(System.out), console(System.err), new LogWriter(log, rotateBytes),
                    new LogWriter(log, rotateBytes)};
                String[] sources = {"out", "err", "log0", "log1"};
                char[] letters = {'o', 'e', 'l', 'm'};
                for (int i = 0; i < sinks.length; i++) {
                    sinks[i].write(line(sources[i], last, 1048576, letters[i], true));
                }
                // log1 has none: appended after log0's, it would continue that line in the file itself.
                for (int i = 0; i < 3; i++) {
                    sinks[i].write(line(sources[i], last + 1, 5000, letters[i], false));
                }
            } catch (IOException e) {
                e.printStackTrace();
            }
            Runtime.getRuntime().halt(0);
        }));
        long start = System.nanoTime();
        Thread[] threads = {
            flood("out", 'o', console(System.out), lines),
            flood("err", 'e', console(System.err), lines),
            flood("log0", 'l', new LogWriter(log, rotateBytes), lines),
            flood("log1", 'm', new LogWriter(log, rotateBytes), lines),
        };
        for (Thread thread : threads) thread.join();
        double seconds = (System.nanoTime() - start) / 1e9;
        Path tmp = Paths.get(done + ".tmp");
        Files.writeString(tmp, String.format("lines=%d bytes=%d seconds=%.2f%n", LINES.get(), BYTES.get(), seconds));
        Files.move(tmp, done, StandardCopyOption.ATOMIC_MOVE);
        Thread.sleep(Long.MAX_VALUE);
    }
}
