import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.core.interceptor.SdkExecutionAttribute;

/**
 * Records which AWS API operations the KCL daemon calls, for the task role's least-privilege policy.
 *
 * Loaded as a Java agent (-javaagent:api-call-recorder.jar), which puts the jar on the system class
 * path; the AWS SDK v2 then finds this interceptor through the jar's
 * software/amazon/awssdk/global/handlers/execution.interceptors resource and calls it for every
 * request of every client the daemon builds. Each operation is appended once per JVM, as
 * "SERVICE OPERATION" (e.g. "DynamoDB UpdateTable"), to the file named by the system property
 * kclmultilang.apiCallsFile; lines are short single writes with O_APPEND, so several daemons may
 * share one file. Recording happens before the request is sent, so a call the emulator refuses
 * still counts: the role must allow it either way.
 */
public final class ApiCallRecorder implements ExecutionInterceptor {
    private static final Set<String> SEEN = ConcurrentHashMap.newKeySet();

    /** The agent entry point: nothing to do, being on the class path is the point. */
    public static void premain(String args) {}

    @Override
    public void beforeExecution(Context.BeforeExecution context, ExecutionAttributes attributes) {
        String file = System.getProperty("kclmultilang.apiCallsFile");
        if (file == null) {
            return;
        }
        String line = attributes.getAttribute(SdkExecutionAttribute.SERVICE_NAME) + " "
                + attributes.getAttribute(SdkExecutionAttribute.OPERATION_NAME);
        if (!SEEN.add(line)) {
            return;
        }
        Path path = Paths.get(file);
        try {
            Files.write(path, (line + "\n").getBytes(StandardCharsets.UTF_8),
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
        } catch (IOException e) {
            // A lost record would make the recorded set silently smaller: fail the call loudly.
            SEEN.remove(line);
            throw new java.io.UncheckedIOException("cannot record an API call in " + file, e);
        }
    }
}
