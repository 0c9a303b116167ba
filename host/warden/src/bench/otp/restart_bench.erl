%% The OTP side of `warden bench restart`, measured the same way so the two
%% figures can be put side by side (scripts/bench-restart-vs-otp.sh runs
%% both in one go).
%%
%% Warden's bench: a `counter` component child under a one_for_one
%% supervisor traps on `crash`; the time runs from sending `crash` until
%% the next incarnation answers `get`, over 3,000 rounds after 200 warm-up
%% ones, nearest-rank percentiles. Here: a `counter` gen_server, registered,
%% under a one_for_one supervisor, stops on `crash`; the time runs from
%% calling `crash` until a `get` call (retried while the name is not
%% registered again) answers 0 from the new process.
%%
%% Prints one JSON line per figure, as `warden bench --json` does:
%% {"bench":"restart_otp","metric":"p50","value":31.2,"unit":"us"}
-module(restart_bench).
%% Both the supervisor and its gen_server child: the gen_server callbacks
%% are below, without their -behaviour line, which would clash with the
%% supervisor's over init/1.
-behaviour(supervisor).

-export([main/0]).
-export([init/1, start_counter/0]).
-export([handle_call/3, handle_cast/2]).

-define(ROUNDS, 3000).
-define(WARM_UP, 200).

main() ->
    %% Warden's bench logs nothing below errors and a trap is not one;
    %% OTP reports each crash (three reports, several KB): silence them
    %% too, or the figure would be the logger's.
    ok = logger:set_primary_config(level, none),
    process_flag(trap_exit, true),
    %% Restarts are the point: intensity high enough never to give up,
    %% as Warden's bench sets it.
    {ok, _Sup} = supervisor:start_link({local, bench_sup}, ?MODULE, supervisor),
    Samples = [round_us() || _ <- lists:seq(1, ?ROUNDS + ?WARM_UP)],
    Sorted = lists:sort(lists:nthtail(?WARM_UP, Samples)),
    Mean = lists:sum(Sorted) / length(Sorted),
    figure("p50", quantile(Sorted, 0.50)),
    figure("p99", quantile(Sorted, 0.99)),
    figure("mean", Mean),
    halt(0).

%% One restart: `crash`, then `get` until the new counter answers 0.
round_us() ->
    Start = erlang:monotonic_time(nanosecond),
    case catch gen_server:call(counter, crash) of
        {'EXIT', _} -> ok;
        Other -> erlang:error({counter_did_not_crash, Other})
    end,
    ok = poll(Start + 5000000000),
    (erlang:monotonic_time(nanosecond) - Start) / 1000.

poll(Deadline) ->
    case catch gen_server:call(counter, get) of
        0 -> ok;
        {'EXIT', _} ->
            case erlang:monotonic_time(nanosecond) < Deadline of
                true -> poll(Deadline);
                false -> erlang:error(no_new_incarnation)
            end;
        Other -> erlang:error({unexpected_reply, Other})
    end.

%% Nearest rank, as warden's Samples::quantile.
quantile(Sorted, Q) ->
    N = length(Sorted),
    Rank = min(max(ceil(Q * N), 1), N),
    lists:nth(Rank, Sorted).

figure(Metric, Value) ->
    io:format("{\"bench\":\"restart_otp\",\"metric\":\"~s\",\"value\":~.3f,\"unit\":\"us\"}~n",
              [Metric, float(Value)]).

%% supervisor
init(supervisor) ->
    Flags = #{strategy => one_for_one, intensity => 1000000000, period => 1},
    Child = #{id => counter,
              start => {?MODULE, start_counter, []},
              restart => permanent,
              shutdown => 5000,
              type => worker},
    {ok, {Flags, [Child]}};
%% gen_server
init(counter) ->
    {ok, 0}.

start_counter() ->
    gen_server:start_link({local, counter}, ?MODULE, counter, []).

handle_call(get, _From, Count) ->
    {reply, Count, Count};
handle_call(crash, _From, Count) ->
    {stop, crash, Count}.

handle_cast(_Message, Count) ->
    {noreply, Count}.
