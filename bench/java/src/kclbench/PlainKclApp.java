package kclbench;

import java.io.BufferedWriter;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import software.amazon.kinesis.coordinator.Scheduler;
import software.amazon.kinesis.exceptions.ShutdownException;
import software.amazon.kinesis.exceptions.ThrottlingException;
import software.amazon.kinesis.lifecycle.events.InitializationInput;
import software.amazon.kinesis.lifecycle.events.LeaseLostInput;
import software.amazon.kinesis.lifecycle.events.ProcessRecordsInput;
import software.amazon.kinesis.lifecycle.events.ShardEndedInput;
import software.amazon.kinesis.lifecycle.events.ShutdownRequestedInput;
import software.amazon.kinesis.multilang.config.KinesisClientLibConfigurator;
import software.amazon.kinesis.multilang.config.MultiLangDaemonConfiguration;
import software.amazon.kinesis.processor.RecordProcessorCheckpointer;
import software.amazon.kinesis.processor.ShardRecordProcessor;
import software.amazon.kinesis.processor.ShardRecordProcessorFactory;
import software.amazon.kinesis.retrieval.KinesisClientRecord;

/**
 * The benchmark's "plain Java KCL application": the KCL in-process, no MultiLangDaemon and no child
 * processes, doing the sample processor's work. It reads the same rendered properties file as the
 * daemon (through the multilang module's own configurator), so every KCL setting is the same as the
 * consumer it is compared with; only the record processor differs.
 *
 * <p>Each record is written as one text line to a log file, in the sample's line format; the writer
 * is flushed at the end of every batch, and a checkpoint is taken at the batch's last record once 60 s
 * have passed (so also after the first batch), as amazon_kclpy's sample does. No rotation: a
 * benchmark's log fits.
 *
 * <p>Usage: {@code java -cp 'jars/*:plain-kcl-app.jar' kclbench.PlainKclApp PROPERTIES LOG_FILE}
 */
public final class PlainKclApp {
  private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");
  private static final long CHECKPOINT_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(60);

  private PlainKclApp() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: PlainKclApp PROPERTIES_FILE LOG_FILE");
      System.exit(2);
    }
    Properties properties = new Properties();
    try (InputStream in = new FileInputStream(args[0])) {
      properties.load(in);
    }
    MultiLangDaemonConfiguration config = new KinesisClientLibConfigurator().getConfiguration(properties);
    Log log = new Log(args[1]);
    // The daemon makes its Scheduler with resolvedConfiguration(factory).build(), both package-private:
    // called here the same way, so the two consumers differ only in their record processor.
    Method resolve =
        MultiLangDaemonConfiguration.class.getDeclaredMethod("resolvedConfiguration", ShardRecordProcessorFactory.class);
    resolve.setAccessible(true);
    ShardRecordProcessorFactory factory = () -> new Processor(log);
    Object resolved = resolve.invoke(config, factory);
    Method build = resolved.getClass().getDeclaredMethod("build");
    build.setAccessible(true);
    Scheduler scheduler = (Scheduler) build.invoke(resolved);
    long graceMillis = Long.parseLong(properties.getProperty("shutdownGraceMillis", "25000").trim());
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    scheduler.startGracefulShutdown().get(graceMillis, TimeUnit.MILLISECONDS);
                  } catch (Exception e) {
                    System.err.println("graceful shutdown did not complete: " + e);
                  }
                  log.close();
                }));
    scheduler.run();
  }

  /** One log file for every shard of this JVM, as the sample's processors share one. */
  static final class Log {
    private final Writer out;

    Log(String path) throws IOException {
      out = new BufferedWriter(new OutputStreamWriter(new FileOutputStream(path, true), StandardCharsets.UTF_8), 1 << 16);
    }

    synchronized void info(String function, CharSequence message) throws IOException {
      out.write(TIME.format(LocalTime.now()));
      out.write(" [plain_kcl_app] INFO  ");
      out.write(function);
      out.write(" - ");
      out.append(message);
      out.write('\n');
    }

    synchronized void flush() throws IOException {
      out.flush();
    }

    synchronized void close() {
      try {
        out.close();
      } catch (IOException e) {
        System.err.println("closing the log: " + e);
      }
    }
  }

  static final class Processor implements ShardRecordProcessor {
    private final Log log;
    private final CharsetDecoder utf8 =
        StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE)
            .onUnmappableCharacter(CodingErrorAction.REPLACE);
    private String shardId = "?";
    private long lastCheckpoint;

    Processor(Log log) {
      this.log = log;
    }

    @Override
    public void initialize(InitializationInput input) {
      shardId = input.shardId();
      lastCheckpoint = System.nanoTime() - CHECKPOINT_INTERVAL_NANOS - 1;
      try {
        log.info("initialize", "shard " + shardId + " at " + input.extendedSequenceNumber());
        log.flush();
      } catch (IOException e) {
        throw new IllegalStateException("cannot write the log", e);
      }
    }

    @Override
    public void processRecords(ProcessRecordsInput input) {
      KinesisClientRecord largest = null;
      try {
        for (KinesisClientRecord record : input.records()) {
          ByteBuffer data = record.data().duplicate();
          log.info("process_records", decode(data));
          largest = record;
        }
        // Written out at the end of every batch, as the sample processors do (amazon_kclpy's logging
        // writes each line, record_processor each batch): a record is handled once it is in the file.
        log.flush();
        if (largest != null && System.nanoTime() - lastCheckpoint > CHECKPOINT_INTERVAL_NANOS) {
          checkpoint(input.checkpointer(), largest.sequenceNumber(), largest.subSequenceNumber());
          lastCheckpoint = System.nanoTime();
        }
      } catch (IOException e) {
        // Nothing is checkpointed past an unwritten record: the daemon delivers them again later.
        throw new IllegalStateException("cannot write the log", e);
      }
    }

    private CharSequence decode(ByteBuffer data) {
      try {
        return utf8.decode(data);
      } catch (CharacterCodingException e) {
        return StandardCharsets.ISO_8859_1.decode(data);
      }
    }

    private void checkpoint(RecordProcessorCheckpointer checkpointer, String sequence, long sub) {
      for (int attempt = 1; attempt <= 5; attempt++) {
        try {
          if (sequence == null) {
            checkpointer.checkpoint();
          } else {
            checkpointer.checkpoint(sequence, sub);
          }
          return;
        } catch (ShutdownException e) {
          return; // the lease is gone; the next owner starts at the last checkpoint
        } catch (ThrottlingException e) {
          sleep(1000);
        } catch (Exception e) {
          System.err.println("checkpoint failed on " + shardId + ": " + e);
          return;
        }
      }
    }

    private static void sleep(long millis) {
      try {
        Thread.sleep(millis);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }

    @Override
    public void leaseLost(LeaseLostInput input) {
      flushQuietly();
    }

    @Override
    public void shardEnded(ShardEndedInput input) {
      flushQuietly();
      checkpoint(input.checkpointer(), null, 0);
    }

    @Override
    public void shutdownRequested(ShutdownRequestedInput input) {
      flushQuietly();
      checkpoint(input.checkpointer(), null, 0);
    }

    private void flushQuietly() {
      try {
        log.flush();
      } catch (IOException e) {
        System.err.println("flushing the log: " + e);
      }
    }
  }
}
