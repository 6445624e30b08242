import { useEffect, useState } from "react";
import { NavLink, Route, Routes } from "react-router";
import { getToken, isTokenRequired, onAuthChange, setToken } from "./api/client";
import { ConfigDetail, ConfigsList, NewConfig } from "./views/Configs";
import { ExecutionDetail } from "./views/ExecutionDetail";
import { ExecutionsList } from "./views/ExecutionsList";
import { LineageExplorer } from "./views/Lineage";
import { Pipelines } from "./views/Pipelines";
import { ObjectPage, StorageBrowser } from "./views/Storage";
import { System } from "./views/System";

function TokenPrompt() {
  const [value, setValue] = useState("");
  return (
    <form
      className="token-prompt panel"
      aria-label="api token"
      onSubmit={(event) => {
        event.preventDefault();
        setToken(value.trim());
        window.location.reload();
      }}
    >
      <h2>API token required</h2>
      <p>This server requires the token set in its <code>FACTFLOW_API_TOKEN</code>.</p>
      <input type="password" aria-label="token" value={value} onChange={(event) => setValue(event.target.value)} autoFocus />
      <button type="submit">Use token</button>
    </form>
  );
}

export function App() {
  const [needsToken, setNeedsToken] = useState(isTokenRequired());
  useEffect(() => onAuthChange(() => setNeedsToken(isTokenRequired())), []);
  return (
    <div className="app">
      <header>
        <strong className="brand">factflow</strong>
        <nav>
          <NavLink to="/" end>
            Executions
          </NavLink>
          <NavLink to="/configs">Configs</NavLink>
          <NavLink to="/pipelines">Routes</NavLink>
          <NavLink to="/storage">Storage</NavLink>
          <NavLink to="/system">System</NavLink>
        </nav>
        {getToken() && (
          <button
            className="link small"
            onClick={() => {
              setToken(null);
              window.location.reload();
            }}
          >
            forget token
          </button>
        )}
      </header>
      <main>
        {needsToken ? (
          <TokenPrompt />
        ) : (
          <Routes>
            <Route path="/" element={<ExecutionsList />} />
            <Route path="/executions/:ref" element={<ExecutionDetail />} />
            <Route path="/lineage/:id" element={<LineageExplorer />} />
            <Route path="/storage" element={<StorageBrowser />} />
            <Route path="/storage/object/*" element={<ObjectPage />} />
            <Route path="/configs" element={<ConfigsList />} />
            <Route path="/configs/new" element={<NewConfig />} />
            <Route path="/configs/:configId" element={<ConfigDetail />} />
            <Route path="/pipelines" element={<Pipelines />} />
            <Route path="/system" element={<System />} />
            <Route path="*" element={<p>No such page.</p>} />
          </Routes>
        )}
      </main>
    </div>
  );
}
